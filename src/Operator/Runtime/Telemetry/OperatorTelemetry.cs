using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Ferry.Operator.Runtime.Telemetry;

/// <summary>The operator's shared <see cref="Meter"/> ("Ferry.Operator") and the runtime's instruments, exported at <c>/metrics</c>.</summary>
/// <remarks>
/// Other parts of the operator create their own instruments on <see cref="Meter"/>; everything on it is exported.
/// Prometheus names: <c>ferry_reconciles_total</c>, <c>ferry_reconcile_duration_seconds</c>,
/// <c>ferry_reconcile_errors_total</c>, <c>ferry_workqueue_depth</c>, <c>ferry_watch_restarts_total</c>, <c>ferry_leader</c>.
/// </remarks>
public static class OperatorTelemetry
{
    /// <summary>Name of the shared meter.</summary>
    public const string MeterName = "Ferry.Operator";

    private static readonly ConcurrentDictionary<string, Func<int>> QueueDepths = new();
    private static int _isLeader;

    /// <summary>The shared meter every operator component records on.</summary>
    public static Meter Meter { get; } = new(MeterName);

    /// <summary>Reconciles by controller and result (<c>done</c>, <c>requeue</c>, <c>transient_error</c>, <c>terminal_error</c>).</summary>
    public static Counter<long> Reconciles { get; } =
        Meter.CreateCounter<long>("ferry.reconciles", description: "Reconcile calls by controller and result.");

    /// <summary>Reconcile duration by controller and result.</summary>
    public static Histogram<double> ReconcileDuration { get; } =
        Meter.CreateHistogram<double>("ferry.reconcile.duration", unit: "s", description: "Time spent in one reconcile call.");

    /// <summary>Failed reconciles by controller and whether the error was transient.</summary>
    public static Counter<long> ReconcileErrors { get; } =
        Meter.CreateCounter<long>("ferry.reconcile.errors", description: "Reconcile calls that failed, by controller and transient=true|false.");

    /// <summary>Watch re-establishments by kind and reason (<c>closed</c>, <c>idle</c>, <c>gone</c>, <c>error</c>).</summary>
    public static Counter<long> WatchRestarts { get; } =
        Meter.CreateCounter<long>("ferry.watch.restarts", description: "Watches started again, by kind and reason.");

    /// <summary>Keys waiting in each controller's work queue.</summary>
    public static ObservableGauge<int> QueueDepth { get; } = Meter.CreateObservableGauge(
        "ferry.workqueue.depth",
        () => QueueDepths.Select(q => new Measurement<int>(q.Value(), new KeyValuePair<string, object?>("queue", q.Key))),
        description: "Keys waiting to be reconciled, by queue.");

    /// <summary>1 while this replica holds the leader lease (or leader election is off), else 0.</summary>
    public static ObservableGauge<int> Leader { get; } = Meter.CreateObservableGauge(
        "ferry.leader", () => Volatile.Read(ref _isLeader), description: "1 while this replica is the leader.");

    /// <summary>Whether this replica currently leads (as last reported).</summary>
    public static bool IsLeader => Volatile.Read(ref _isLeader) == 1;

    /// <summary>Registers a queue whose depth <see cref="QueueDepth"/> reports.</summary>
    public static void TrackQueue(string name, Func<int> depth) => QueueDepths[name] = depth;

    /// <summary>Stops reporting a queue.</summary>
    public static void UntrackQueue(string name) => QueueDepths.TryRemove(name, out _);

    /// <summary>Records whether this replica leads.</summary>
    public static void SetLeader(bool leading) => Volatile.Write(ref _isLeader, leading ? 1 : 0);
}
