using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.LeaderElection;
using Ferry.Operator.Runtime.Telemetry;
using k8s;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Hosting;

/// <summary>
/// Runs the informers on every replica (so caches are warm when leadership moves) and the reconcile workers only
/// while this replica leads. Shutdown drains the work queues of a leader, then stops the workers and releases the lease.
/// </summary>
public sealed class ControllerHostService(
    IServiceProvider services,
    IEnumerable<ControllerDefinition> definitions,
    InformerFactory informers,
    OperatorOptions options,
    IKubernetes kubernetes,
    TimeProvider time,
    ILogger<ControllerHostService> logger) : BackgroundService
{
    private readonly TaskCompletionSource _controllersBuilt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<IController> _controllers = [];
    private LeaseElector? _elector;
    private volatile bool _stopping;

    /// <summary>The controllers this host runs (empty until started).</summary>
    public IReadOnlyList<IController> Controllers => _controllers;

    /// <summary>Ready when the controllers are built and every informer has its first list cached; leadership does not matter.</summary>
    public bool IsReady => _controllersBuilt.Task.IsCompleted && informers.HasSynced;

    /// <summary>Whether this replica runs the reconcile workers now.</summary>
    public bool IsLeader => options.LeaderElection.Enabled ? _elector?.IsLeader == true : _controllersBuilt.Task.IsCompleted && !_stopping;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var context = new ControllerBuildContext(options.MaxConcurrentReconciles, time);
        _controllers = [.. definitions.Select(d => d.Build(services, context))];
        if (_controllers.Count == 0)
        {
            logger.LogWarning("No controllers are registered; the operator only serves health and metrics");
        }

        _controllersBuilt.TrySetResult();
        informers.Start(stoppingToken);
        logger.LogInformation("Watching {Namespaces} with {Controllers}",
            options.Namespaces.Count == 0 ? "all namespaces" : string.Join(", ", options.Namespaces),
            string.Join(", ", _controllers.Select(c => c.Name)));

        if (options.LeaderElection.Enabled)
        {
            var le = options.LeaderElection;
            var identity = OperatorIdentity.Resolve(le.Identity);
            var leaseNamespace = OperatorIdentity.ResolveNamespace(le.LeaseNamespace);
            _elector = new LeaseElector(
                new LeaseLock(kubernetes, leaseNamespace, le.LeaseName, identity),
                new LeaderElectionOptions
                {
                    Identity = identity,
                    LeaseDuration = TimeSpan.FromSeconds(le.LeaseDurationSeconds),
                    RenewDeadline = TimeSpan.FromSeconds(le.RenewDeadlineSeconds),
                    RetryPeriod = TimeSpan.FromSeconds(le.RetryPeriodSeconds),
                },
                time,
                logger);
            _elector.LeadershipChanged += leading =>
            {
                OperatorTelemetry.SetLeader(leading);
                logger.LogInformation(leading ? "{Identity} leads; reconciling" : "{Identity} is not leading; reconcilers stopped", identity);
            };
            await _elector.RunAsync(RunControllersAsync, stoppingToken).ConfigureAwait(false);
        }
        else
        {
            OperatorTelemetry.SetLeader(true);
            try
            {
                await RunControllersAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }

            OperatorTelemetry.SetLeader(false);
        }

        await informers.StoppedAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        var leading = IsLeaderForDrain();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
        try
        {
            // A leader finishes what is queued and in flight; a follower has no workers, so it only closes its queues.
            await Task.WhenAll(_controllers.Select(c => leading
                ? c.ShutDownAsync(timeout.Token)
                : Close(c))).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Shutdown timeout reached with reconciles still in flight; cancelling them");
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task Close(IController controller)
    {
        _ = controller.ShutDownAsync(CancellationToken.None);
        return Task.CompletedTask;
    }

    private bool IsLeaderForDrain() => options.LeaderElection.Enabled ? _elector?.IsLeader == true : true;

    private async Task RunControllersAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(_controllers.Select(c => c.RunWorkersAsync(cancellationToken))).ConfigureAwait(false);
        if (_stopping)
        {
            // Queues are drained; keep the lease until the host stops, then it is released.
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
    }
}
