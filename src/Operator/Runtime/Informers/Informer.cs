using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Telemetry;
using Ferry.Operator.Runtime.Timing;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Runtime.Informers;

/// <summary>How an informer lists and watches.</summary>
public sealed record InformerOptions
{
    /// <summary>Namespaces to watch; empty watches all namespaces with one cluster-wide watch.</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];

    /// <summary>Only objects matching this label selector are listed and watched.</summary>
    public string? LabelSelector { get; init; }

    /// <summary>A watch that delivers nothing (not even a bookmark) for this long is restarted from the last resourceVersion.</summary>
    public TimeSpan WatchIdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Delay between attempts after list or watch errors.</summary>
    public ExponentialBackoff Backoff { get; init; } = new(TimeSpan.FromMilliseconds(800), TimeSpan.FromSeconds(30));

    /// <summary>Removes, in place and before caching, parts of each object no reader uses (see <see cref="InformerScope"/>).</summary>
    public Action<object>? Trim { get; init; }

    /// <summary>Source of backoff jitter (tests make it deterministic).</summary>
    public Random? Random { get; init; }
}

/// <summary>A started informer, seen without its object type (for readiness and hosting).</summary>
public interface IInformer
{
    /// <summary>The kind this informer watches.</summary>
    ResourceKind Kind { get; }

    /// <summary>True once the first list of every watched namespace is cached.</summary>
    bool HasSynced { get; }

    /// <summary>Completes when <see cref="HasSynced"/> becomes true.</summary>
    Task WaitForSyncAsync(CancellationToken cancellationToken);

    /// <summary>Lists and watches until <paramref name="cancellationToken"/> is cancelled.</summary>
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>
/// List+watch for one kind that keeps an <see cref="InformerCache{T}"/> current and tells handlers what changed.
/// It resumes a dropped watch from the last resourceVersion (bookmarks advance it), lists again on 410 Gone
/// (as an HTTP status or as a watch ERROR event) and reconciles the cache with the new list (deletions included),
/// restarts a watch that stays silent longer than <see cref="InformerOptions.WatchIdleTimeout"/>, and backs off
/// exponentially with jitter on errors. All timing goes through the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class Informer<T> : IInformer
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly IResourceClient<T> _client;
    private readonly InformerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<IResourceEventHandler<T>> _handlers = [];
    private readonly Lock _handlersLock = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _scopesSynced;
    private long _watchRestarts;
    private long _lists;

    /// <summary>Creates an informer; call <see cref="RunAsync"/> to start it.</summary>
    public Informer(IResourceClient<T> client, InformerOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        _client = client;
        _options = options ?? new InformerOptions();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public ResourceKind Kind => _client.Kind;

    /// <summary>The cache this informer fills.</summary>
    public InformerCache<T> Cache { get; } = new();

    /// <inheritdoc />
    public bool HasSynced => Cache.HasSynced;

    /// <summary>How many times a watch was started again after the first (any reason).</summary>
    public long WatchRestarts => Interlocked.Read(ref _watchRestarts);

    /// <summary>How many full lists were made (the first, and one per 410 Gone).</summary>
    public long Lists => Interlocked.Read(ref _lists);

    /// <summary>Adds a handler; a handler added after objects were cached is told about them as adds.</summary>
    public void AddHandler(IResourceEventHandler<T> handler)
    {
        lock (_handlersLock)
        {
            _handlers.Add(handler);
            foreach (var item in Cache.List())
            {
                Notify(() => handler.OnAdd(item));
            }
        }
    }

    /// <inheritdoc />
    public Task WaitForSyncAsync(CancellationToken cancellationToken) => _synced.Task.WaitAsync(cancellationToken);

    /// <inheritdoc />
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string?> scopes = _options.Namespaces.Count == 0 ? [null] : [.. _options.Namespaces];
        OperatorTelemetry.StartAtZero(OperatorTelemetry.WatchRestarts, ("kind", Kind.Kind), "reason", ["closed", "idle", "gone", "error"]);
        await Task.WhenAll(scopes.Select(ns => Task.Run(() => RunScopeAsync(ns, scopes.Count, cancellationToken), CancellationToken.None)))
            .ConfigureAwait(false);
    }

    private async Task RunScopeAsync(string? ns, int scopeCount, CancellationToken cancellationToken)
    {
        var position = new WatchPosition();
        var failures = 0;
        var syncedHere = false;
        var watched = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (position.ResourceVersion is null)
                {
                    var list = await _client.ListAsync(ns, _options.LabelSelector, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref _lists);
                    ApplyList(ns, list.Items);
                    position.ResourceVersion = list.ResourceVersion;
                    if (!syncedHere)
                    {
                        syncedHere = true;
                        if (Interlocked.Increment(ref _scopesSynced) == scopeCount)
                        {
                            Cache.MarkSynced();
                            _synced.TrySetResult();
                        }
                    }
                }

                if (watched)
                {
                    Interlocked.Increment(ref _watchRestarts);
                }

                watched = true;
                var (reason, delivered) = await WatchOnceAsync(ns, position, cancellationToken).ConfigureAwait(false);
                OperatorTelemetry.WatchRestarts.Add(1, Tag("kind", Kind.Kind), Tag("reason", reason));
                if (delivered)
                {
                    failures = 0;
                }
                else if (reason == "closed")
                {
                    // A server that closes watches at once would otherwise be hammered.
                    failures++;
                    await Task.Delay(_options.Backoff.Delay(failures, _options.Random), _time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (KubernetesApiException e) when (e.IsGone)
            {
                _logger.LogInformation("{Kind} resourceVersion {ResourceVersion} expired (410 Gone); listing again",
                    Kind.Kind, position.ResourceVersion);
                OperatorTelemetry.WatchRestarts.Add(1, Tag("kind", Kind.Kind), Tag("reason", "gone"));
                position.ResourceVersion = null;
            }
            catch (Exception e)
            {
                failures++;
                var delay = _options.Backoff.Delay(failures, _options.Random);
                _logger.LogWarning(e, "{Kind} list/watch in {Namespace} failed ({Failures} in a row); retrying in {Delay}",
                    Kind.Kind, ns ?? "all namespaces", failures, delay);
                OperatorTelemetry.WatchRestarts.Add(1, Tag("kind", Kind.Kind), Tag("reason", "error"));
                try
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    /// <summary>
    /// Runs one watch from <paramref name="position"/>, advancing it with every event (so an error mid-stream still
    /// resumes from the last version seen; null = list again); returns why the watch ended.
    /// </summary>
    private async Task<(string Reason, bool Delivered)> WatchOnceAsync(string? ns, WatchPosition position, CancellationToken cancellationToken)
    {
        var resourceVersion = position.ResourceVersion!;
        using var idle = new CancellationTokenSource(_options.WatchIdleTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token);
        var delivered = false;
        try
        {
            await foreach (var change in _client.WatchAsync(ns, resourceVersion, _options.LabelSelector, linked.Token)
                               .WithCancellation(linked.Token).ConfigureAwait(false))
            {
                idle.CancelAfter(_options.WatchIdleTimeout);
                delivered = true;
                switch (change.Type)
                {
                    case WatchEventType.Added or WatchEventType.Modified when change.Object is { } obj:
                        var old = Cache.Upsert(Trim(obj));
                        if (old is null)
                        {
                            NotifyAll(h => h.OnAdd(obj));
                        }
                        else
                        {
                            NotifyAll(h => h.OnUpdate(old, obj));
                        }

                        position.ResourceVersion = obj.Metadata?.ResourceVersion ?? position.ResourceVersion;
                        break;
                    case WatchEventType.Deleted when change.Object is { } obj:
                        var removed = Cache.Remove(obj) ?? obj;
                        NotifyAll(h => h.OnDelete(removed));
                        position.ResourceVersion = obj.Metadata?.ResourceVersion ?? position.ResourceVersion;
                        break;
                    case WatchEventType.Bookmark when change.Object?.Metadata?.ResourceVersion is { Length: > 0 } bookmark:
                        position.ResourceVersion = bookmark;
                        break;
                    case WatchEventType.Error:
                        var code = change.Status?.Code ?? 500;
                        if (code == 410)
                        {
                            _logger.LogInformation("{Kind} watch reported 410 Gone at {ResourceVersion}; listing again",
                                Kind.Kind, position.ResourceVersion);
                            position.ResourceVersion = null;
                            return ("gone", delivered);
                        }

                        throw new KubernetesApiException((System.Net.HttpStatusCode)code,
                            $"{Kind.Kind} watch reported error {code}: {change.Status?.Message}", change.Status);
                }
            }

            return ("closed", delivered);
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogInformation("{Kind} watch silent for {Timeout}; restarting from {ResourceVersion}",
                Kind.Kind, _options.WatchIdleTimeout, position.ResourceVersion);
            return ("idle", true);
        }
    }

    private void ApplyList(string? ns, IReadOnlyList<T> items)
    {
        foreach (var item in items)
        {
            Trim(item);
        }

        var result = Cache.Replace(ns, items);
        foreach (var item in result.Added)
        {
            NotifyAll(h => h.OnAdd(item));
        }

        foreach (var (old, current) in result.Updated)
        {
            NotifyAll(h => h.OnUpdate(old, current));
        }

        foreach (var item in result.Deleted)
        {
            NotifyAll(h => h.OnDelete(item));
        }
    }

    private void NotifyAll(Action<IResourceEventHandler<T>> notify)
    {
        IResourceEventHandler<T>[] handlers;
        lock (_handlersLock)
        {
            handlers = [.. _handlers];
        }

        foreach (var handler in handlers)
        {
            Notify(() => notify(handler));
        }
    }

    private void Notify(Action call)
    {
        try
        {
            call();
        }
        catch (Exception e)
        {
            // A faulty handler must not stop the watch for everyone else.
            _logger.LogError(e, "{Kind} event handler failed", Kind.Kind);
        }
    }

    /// <summary>Drops what no reader of the cache uses and would only cost memory per object: managedFields, and what the options' trim removes.</summary>
    private T Trim(T obj)
    {
        if (obj.Metadata is { } metadata)
        {
            metadata.ManagedFields = null;
        }

        _options.Trim?.Invoke(obj);
        return obj;
    }

    private sealed class WatchPosition
    {
        public string? ResourceVersion { get; set; }
    }

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);
}
