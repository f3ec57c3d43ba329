using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Ferry.Operator.Runtime.Telemetry;

/// <summary>The operator's shared <see cref="Meter"/> ("Ferry.Operator") and the controller runtime's instruments, exported at <c>/metrics</c>.</summary>
/// <remarks>
/// Other parts of the operator create their own instruments on <see cref="Meter"/>; everything on it is exported
/// (<see cref="MetricsExport"/>). Prometheus names: <c>ferry_reconciles_total</c>, <c>ferry_reconcile_duration_seconds</c>,
/// <c>ferry_reconcile_errors_total</c>, <c>ferry_workqueue_depth</c>, <c>ferry_workqueue_adds_total</c>,
/// <c>ferry_workqueue_retries_total</c>, <c>ferry_workqueue_queue_duration_seconds</c>, <c>ferry_watch_restarts_total</c>,
/// <c>ferry_leader</c>; the jobs' metrics are in <see cref="JobTelemetry"/>, the API calls' in <see cref="KubernetesApiMetricsHandler"/>.
/// Labels carry bounded values only: controller, queue and kind names, results, verbs, resources and status codes.
/// </remarks>
public static class OperatorTelemetry
{
    /// <summary>Name of the shared meter.</summary>
    public const string MeterName = "Ferry.Operator";

    /// <summary>Buckets for work that takes milliseconds to a minute: reconciles, API calls, time in the work queue.</summary>
    public static readonly IReadOnlyList<double> SecondsBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private static readonly ConcurrentDictionary<string, Func<int>> QueueDepths = new();
    private static int _isLeader;

    /// <summary>The shared meter every operator component records on.</summary>
    public static Meter Meter { get; } = new(MeterName);

    /// <summary>Reconciles by controller and result (<c>done</c>, <c>requeue</c>, <c>transient_error</c>, <c>terminal_error</c>).</summary>
    public static Counter<long> Reconciles { get; } =
        Meter.CreateCounter<long>("ferry.reconciles", description: "Reconcile calls by controller and result.");

    /// <summary>Reconcile duration by controller and result, in seconds (buckets from 1 ms to 60 s).</summary>
    public static Histogram<double> ReconcileDuration { get; } = Seconds(
        "ferry.reconcile.duration", "Time spent in one reconcile call, by controller and result.");

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

    /// <summary>Keys added to a work queue (a key already waiting is not added again), by queue.</summary>
    public static Counter<long> QueueAdds { get; } =
        Meter.CreateCounter<long>("ferry.workqueue.adds", description: "Keys queued for a reconcile, by queue.");

    /// <summary>Keys queued again with backoff after a failed reconcile, by queue.</summary>
    public static Counter<long> QueueRetries { get; } =
        Meter.CreateCounter<long>("ferry.workqueue.retries", description: "Keys queued again with backoff after a failure, by queue.");

    /// <summary>How long a key waited in the queue before a worker took it, by queue.</summary>
    public static Histogram<double> QueueLatency { get; } = Seconds(
        "ferry.workqueue.queue.duration", "Time a key waited in the work queue before a worker took it, by queue.");

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

    /// <summary>
    /// Shows <paramref name="counter"/> at 0 for each of <paramref name="values"/> before anything is counted, so
    /// <c>rate()</c> and alerts see a series from the start instead of none.
    /// </summary>
    public static void StartAtZero(Counter<long> counter, (string Key, string Value) tag, string key, IEnumerable<string> values)
    {
        foreach (var value in values)
        {
            counter.Add(0, new KeyValuePair<string, object?>(tag.Key, tag.Value), new KeyValuePair<string, object?>(key, value));
        }
    }

    /// <summary>A histogram in seconds on the shared meter with <see cref="SecondsBuckets"/> as its bucket advice.</summary>
    public static Histogram<double> Seconds(string name, string description, IReadOnlyList<double>? buckets = null) =>
        Meter.CreateHistogram(name, unit: "s", description: description, tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets ?? SecondsBuckets });
}
