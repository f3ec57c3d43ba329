using System.Diagnostics;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Queue;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Telemetry;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Runtime.Controllers;

/// <summary>A controller seen without its object type, as the host runs it.</summary>
public interface IController
{
    /// <summary>Name used in logs and metrics.</summary>
    string Name { get; }

    /// <summary>Every informer the controller reads from (its primary kind and the kinds it watches).</summary>
    IReadOnlyList<IInformer> Informers { get; }

    /// <summary>
    /// Waits for the caches, queues every cached primary object once, then runs the reconcile workers until
    /// <paramref name="cancellationToken"/> is cancelled (e.g. leadership lost). Can be called again afterwards.
    /// </summary>
    Task RunWorkersAsync(CancellationToken cancellationToken);

    /// <summary>Stops taking keys and waits for in-flight reconciles to finish.</summary>
    Task ShutDownAsync(CancellationToken cancellationToken);
}

/// <summary>Feeds a work queue from informers and runs bounded-concurrency reconcile workers over it.</summary>
public sealed class Controller<T> : IController
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly Informer<T> _primary;
    private readonly IReconciler<T> _reconciler;
    private readonly int _workers;
    private readonly ILogger _logger;
    private readonly List<IInformer> _informers;
    private readonly KeyValuePair<string, object?> _controllerTag;

    /// <summary>Creates a controller for the objects of <paramref name="primary"/>.</summary>
    /// <param name="name">Name used in logs and metrics.</param>
    /// <param name="primary">Informer of the reconciled kind; every change enqueues the object's key.</param>
    /// <param name="reconciler">The reconcile logic.</param>
    /// <param name="maxConcurrentReconciles">Workers; one key is never reconciled by two workers at once.</param>
    /// <param name="queue">The work queue; a default rate-limited one when null.</param>
    /// <param name="time">Clock for the default queue.</param>
    /// <param name="logger">Logger.</param>
    public Controller(
        string name,
        Informer<T> primary,
        IReconciler<T> reconciler,
        int maxConcurrentReconciles = 1,
        WorkQueue<ObjectKey>? queue = null,
        TimeProvider? time = null,
        ILogger? logger = null)
    {
        if (maxConcurrentReconciles < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxConcurrentReconciles), maxConcurrentReconciles,
                "maxConcurrentReconciles must be at least 1.");
        }

        Name = name;
        _primary = primary;
        _reconciler = reconciler;
        _workers = maxConcurrentReconciles;
        Queue = queue ?? new WorkQueue<ObjectKey>(name, time: time);
        _logger = logger ?? NullLogger.Instance;
        _informers = [primary];
        _controllerTag = new("controller", name);
        primary.AddHandler(ResourceEventHandler<T>.OnAnyChange(obj => Queue.Add(ObjectKey.Of(obj))));
        OperatorTelemetry.StartAtZero(OperatorTelemetry.ReconcileErrors, ("controller", name), "transient", ["true", "false"]);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The controller's work queue.</summary>
    public WorkQueue<ObjectKey> Queue { get; }

    /// <inheritdoc />
    public IReadOnlyList<IInformer> Informers => _informers;

    /// <summary>Enqueues the keys <paramref name="map"/> returns for every change seen by <paramref name="informer"/>.</summary>
    public Controller<T> Watches<TOther>(Informer<TOther> informer, Func<TOther, IEnumerable<ObjectKey>> map)
        where TOther : class, IKubernetesObject<V1ObjectMeta>
    {
        _informers.Add(informer);
        informer.AddHandler(ResourceEventHandler<TOther>.OnAnyChange(obj =>
        {
            foreach (var key in map(obj))
            {
                Queue.Add(key);
            }
        }));
        return this;
    }

    /// <summary>
    /// Enqueues the owner of every changed <typeparamref name="TOwned"/>: the owner reference with
    /// <c>controller: true</c> of this controller's kind, or, when there is none, the object named by
    /// <paramref name="ownerNameLabel"/> in the same namespace.
    /// </summary>
    public Controller<T> Owns<TOwned>(Informer<TOwned> informer, string? ownerNameLabel = null)
        where TOwned : class, IKubernetesObject<V1ObjectMeta> =>
        Watches(informer, obj => OwnerKeys(obj, _primary.Kind, ownerNameLabel));

    /// <summary>The keys of <paramref name="obj"/>'s owner of kind <paramref name="ownerKind"/> (see <see cref="Owns{TOwned}"/>).</summary>
    public static IEnumerable<ObjectKey> OwnerKeys(IKubernetesObject<V1ObjectMeta> obj, ResourceKind ownerKind, string? ownerNameLabel)
    {
        var ns = obj.Metadata?.NamespaceProperty ?? "";
        var owner = obj.Metadata?.OwnerReferences?.FirstOrDefault(o =>
            o.Controller == true && o.Kind == ownerKind.Kind && GroupOf(o.ApiVersion) == ownerKind.Group);
        if (owner is not null)
        {
            return [new ObjectKey(ns, owner.Name)];
        }

        if (ownerNameLabel is not null && obj.Metadata?.Labels is { } labels
            && labels.TryGetValue(ownerNameLabel, out var name) && !string.IsNullOrEmpty(name))
        {
            return [new ObjectKey(ns, name)];
        }

        return [];
    }

    /// <inheritdoc />
    public async Task RunWorkersAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(_informers.Select(i => i.WaitForSyncAsync(cancellationToken))).ConfigureAwait(false);
        foreach (var obj in _primary.Cache.List())
        {
            Queue.Add(ObjectKey.Of(obj));
        }

        _logger.LogInformation("Controller {Controller} starting {Workers} workers", Name, _workers);
        var workers = Enumerable.Range(0, _workers)
            .Select(_ => Task.Run(() => WorkAsync(cancellationToken), CancellationToken.None))
            .ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        _logger.LogInformation("Controller {Controller} workers stopped", Name);
    }

    /// <inheritdoc />
    public Task ShutDownAsync(CancellationToken cancellationToken) => Queue.ShutDownAsync(drain: true, cancellationToken);

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            QueueItem<ObjectKey> item;
            try
            {
                item = await Queue.GetAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (item.ShuttingDown)
            {
                return;
            }

            try
            {
                await ProcessAsync(item.Key, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Queue.Done(item.Key);
            }
        }
    }

    private async Task ProcessAsync(ObjectKey key, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["namespace"] = key.Namespace, ["name"] = key.Name });
        ReconcileResult result;
        try
        {
            result = await _reconciler.ReconcileAsync(key.Namespace, key.Name, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped mid-reconcile (shutdown or lost leadership): whoever leads next looks at it again.
            Queue.Add(key);
            return;
        }
        catch (KubernetesApiException e) when (e.IsConflict)
        {
            _logger.LogDebug("Reconcile of {Key} hit a conflict; retrying with a fresh read", key);
            result = ReconcileResult.Error(e, transient: true);
        }
        catch (Exception e)
        {
            result = ReconcileResult.Error(e, transient: true);
        }

        var outcome = Apply(key, result);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var resultTag = new KeyValuePair<string, object?>("result", outcome);
        OperatorTelemetry.Reconciles.Add(1, _controllerTag, resultTag);
        OperatorTelemetry.ReconcileDuration.Record(elapsed, _controllerTag, resultTag);
    }

    private string Apply(ObjectKey key, ReconcileResult result)
    {
        switch (result)
        {
            case ReconcileResult.RequeueAfterResult requeue:
                Queue.Forget(key);
                Queue.AddAfter(key, requeue.Delay);
                return "requeue";
            case ReconcileResult.ErrorResult { Transient: true } error:
                OperatorTelemetry.ReconcileErrors.Add(1, _controllerTag, new("transient", "true"));
                _logger.LogWarning(error.Exception, "Reconcile of {Key} failed (attempt {Attempt}); retrying with backoff",
                    key, Queue.NumRequeues(key) + 1);
                Queue.AddRateLimited(key);
                return "transient_error";
            case ReconcileResult.ErrorResult error:
                OperatorTelemetry.ReconcileErrors.Add(1, _controllerTag, new("transient", "false"));
                _logger.LogError(error.Exception, "Reconcile of {Key} failed permanently; not retrying until it changes", key);
                Queue.Forget(key);
                return "terminal_error";
            default:
                Queue.Forget(key);
                return "done";
        }
    }

    private static string GroupOf(string? apiVersion)
    {
        var slash = apiVersion?.IndexOf('/') ?? -1;
        return slash < 0 ? "" : apiVersion![..slash];
    }
}
