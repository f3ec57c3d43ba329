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
    IEnumerable<InformerScope>? scopes = null)
{
    private readonly ILookup<Type, InformerScope> _scopes = (scopes ?? []).ToLookup(s => s.Type);

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
            var omit = _scopes[typeof(T)].SelectMany(s => s.OmitOnWatch ?? []).ToList();
            if (omit.Count > 0 && client is KubernetesResourceClient<T> kubernetesClient)
            {
                client = kubernetesClient.OmittingOnWatch(omit);
            }

            var informer = new Informer<T>(client, Scoped(typeof(T)), time, loggerFactory.CreateLogger($"Ferry.Operator.Informer.{client.Kind.Kind}"));
            informer.Cache.AddIndex(CacheIndexes.ByControllerOwnerUid, CacheIndexes.ControllerOwnerUid);
            _informers[typeof(T)] = informer;
            if (_started is { } token)
            {
                _running.Add(informer.RunAsync(token));
            }

            return informer;
        }
    }

    private InformerOptions Scoped(Type type)
    {
        var scopes = _scopes[type].ToList();
        if (scopes.Count == 0)
        {
            return options;
        }

        var selectors = scopes.Select(s => s.LabelSelector).Prepend(options.LabelSelector).OfType<string>()
            .Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        var trims = scopes.Select(s => s.Trim).Prepend(options.Trim).OfType<Action<object>>().ToList();
        return options with
        {
            LabelSelector = selectors.Count == 0 ? null : string.Join(',', selectors),
            Trim = trims.Count == 0 ? null : obj => trims.ForEach(trim => trim(obj)),
        };
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
/// Narrows the shared informer of <paramref name="Type"/>: only objects matching <paramref name="LabelSelector"/>
/// are listed and watched (the operator caches the children it manages, e.g. pods labelled <c>ferry.dev/job-name</c>,
/// not every pod of the cluster), and <paramref name="Trim"/> drops, before caching, the parts of each object that
/// no reader uses (memory per cached object is what bounds the operator's footprint at scale). Register scopes in
/// dependency injection; several for one type combine (every selector must match, every trim runs).
/// </summary>
/// <param name="Type">The object type (e.g. <c>typeof(V1Pod)</c>).</param>
/// <param name="LabelSelector">A Kubernetes label selector, or null.</param>
/// <param name="Trim">Removes unused parts of an object in place, or null.</param>
/// <param name="OmitOnWatch">
/// Top-level fields (e.g. <c>spec</c>) cut from watch events before they are parsed, for fields no reader uses
/// (the first list still carries them; <paramref name="Trim"/> should drop them too).
/// </param>
public sealed record InformerScope(Type Type, string? LabelSelector = null, Action<object>? Trim = null, IReadOnlyList<string>? OmitOnWatch = null)
{
    /// <summary>A scope for <typeparamref name="T"/> objects.</summary>
    public static InformerScope For<T>(string? labelSelector = null, Action<T>? trim = null, IReadOnlyList<string>? omitOnWatch = null)
        where T : class => new(typeof(T), labelSelector, trim is null ? null : obj => trim((T)obj), omitOnWatch);
}

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

    /// <inheritdoc />
    public event Action<T>? Removed
    {
        add => _cache.Removed += value;
        remove => _cache.Removed -= value;
    }
}
