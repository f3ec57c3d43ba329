using System.Collections.Concurrent;
using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Runtime.Informers;

/// <summary>
/// One shared informer per kind, so every controller and reconciler reading pods reads the same cache and the
/// API server sees one watch per kind. Informers asked for after <see cref="Start"/> start at once. Every cache
/// carries the <see cref="CacheIndexes.ByControllerOwnerUid"/> index (children by their controlling owner's UID).
/// </summary>
public sealed class InformerFactory(
    Func<Type, object> resourceClients,
    InformerOptions options,
    TimeProvider time,
    ILoggerFactory loggerFactory,
    IEnumerable<InformerLabelSelector>? selectors = null)
{
    private readonly Dictionary<Type, string> _selectors = (selectors ?? [])
        .GroupBy(s => s.Type)
        .ToDictionary(g => g.Key, g => string.Join(',', g.Select(s => s.LabelSelector).Distinct(StringComparer.Ordinal)));

    private readonly ConcurrentDictionary<Type, IInformer> _informers = new();
    private readonly Lock _lock = new();
    private readonly List<Task> _running = [];
    private CancellationToken? _started;

    /// <summary>Every informer created so far.</summary>
    public IReadOnlyCollection<IInformer> All => [.. _informers.Values];

    /// <summary>True when every informer has its first list cached.</summary>
    public bool HasSynced => _informers.Values.All(i => i.HasSynced);

    /// <summary>The shared informer for <typeparamref name="T"/>.</summary>
    public Informer<T> Get<T>()
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            if (_informers.TryGetValue(typeof(T), out var existing))
            {
                return (Informer<T>)existing;
            }

            var client = (IResourceClient<T>)resourceClients(typeof(IResourceClient<T>));
            var kindOptions = _selectors.TryGetValue(typeof(T), out var selector)
                ? options with { LabelSelector = string.IsNullOrEmpty(options.LabelSelector) ? selector : $"{options.LabelSelector},{selector}" }
                : options;
            var informer = new Informer<T>(client, kindOptions, time, loggerFactory.CreateLogger($"Ferry.Operator.Informer.{client.Kind.Kind}"));
            informer.Cache.AddIndex(CacheIndexes.ByControllerOwnerUid, CacheIndexes.ControllerOwnerUid);
            _informers[typeof(T)] = informer;
            if (_started is { } token)
            {
                _running.Add(informer.RunAsync(token));
            }

            return informer;
        }
    }

    /// <summary>Starts every informer (and any created later) until <paramref name="cancellationToken"/> is cancelled.</summary>
    public void Start(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_started is not null)
            {
                throw new InvalidOperationException("The informers were already started.");
            }

            _started = cancellationToken;
            foreach (var informer in _informers.Values)
            {
                _running.Add(informer.RunAsync(cancellationToken));
            }
        }
    }

    /// <summary>Completes when every started informer has stopped.</summary>
    public Task StoppedAsync()
    {
        lock (_lock)
        {
            return Task.WhenAll(_running);
        }
    }
}

/// <summary>
/// Restricts the shared informer of <paramref name="Type"/> to objects matching <paramref name="LabelSelector"/>, so
/// the operator caches only the children it manages (e.g. pods labelled <c>ferry.dev/job-name</c>), not every pod of
/// the cluster. Register it in dependency injection; selectors for one type are combined (all must match).
/// </summary>
/// <param name="Type">The object type (e.g. <c>typeof(V1Pod)</c>).</param>
/// <param name="LabelSelector">A Kubernetes label selector.</param>
public sealed record InformerLabelSelector(Type Type, string LabelSelector);

/// <summary>Resolves <see cref="IInformerCache{T}"/> from dependency injection to the shared informer's cache.</summary>
public sealed class SharedInformerCache<T>(InformerFactory informers) : IInformerCache<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly InformerCache<T> _cache = informers.Get<T>().Cache;

    /// <inheritdoc />
    public bool HasSynced => _cache.HasSynced;

    /// <inheritdoc />
    public int Count => _cache.Count;

    /// <inheritdoc />
    public bool TryGet(string? ns, string name, out T obj) => _cache.TryGet(ns, name, out obj);

    /// <inheritdoc />
    public IReadOnlyList<T> List(string? ns = null, string? labelSelector = null) => _cache.List(ns, labelSelector);

    /// <inheritdoc />
    public IReadOnlyList<T> ByIndex(string indexName, string value) => _cache.ByIndex(indexName, value);
}
