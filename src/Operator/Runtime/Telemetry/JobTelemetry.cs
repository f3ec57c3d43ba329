using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Runtime.Telemetry;

/// <summary>
/// The TrainingJobs' metrics, fed by the reconciler with each status it settles: <c>ferry_trainingjobs{namespace,phase,backend}</c>,
/// <c>ferry_trainingjobs_oldest_in_phase_timestamp_seconds{namespace,phase}</c>, the counters
/// <c>ferry_trainingjob_{starts,restarts,completions,failures,stops}_total</c>, the histograms
/// <c>ferry_trainingjob_time_to_running_seconds</c> and <c>ferry_trainingjob_duration_seconds</c>, and
/// <c>ferry_training_metric{namespace,trainingjob,metric}</c>.
/// </summary>
/// <remarks>
/// Cardinality is bounded: job counts are per namespace, phase and backend; reasons are the conditions' fixed reasons;
/// the only per-job series are <c>ferry_training_metric</c>'s, and only while the job runs. A deleted job's series go
/// with it (<see cref="Forget"/>). Only the replica that reconciles (the leader) reports jobs.
/// </remarks>
public static class JobTelemetry
{
    /// <summary>Buckets for the time from a job's creation to its first running replicas: seconds to an hour.</summary>
    public static readonly IReadOnlyList<double> TimeToRunningBuckets = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];

    /// <summary>Buckets for a job's run time: ten seconds to a day.</summary>
    public static readonly IReadOnlyList<double> DurationBuckets = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400];

    private static readonly ConcurrentDictionary<(string Namespace, string Name), JobState> Jobs = new();

    /// <summary>TrainingJobs this operator reconciles, by namespace, phase and backend.</summary>
    public static ObservableGauge<int> Count { get; } = OperatorTelemetry.Meter.CreateObservableGauge(
        "ferry.trainingjobs",
        () => Jobs.Values
            .GroupBy(j => (j.Namespace, j.Phase, j.Backend))
            .Select(g => new Measurement<int>(g.Count(), Tag("namespace", g.Key.Namespace), Tag("phase", g.Key.Phase), Tag("backend", g.Key.Backend))),
        description: "TrainingJobs by namespace, phase and backend.");

    /// <summary>When the job that has waited longest in a phase that is not final entered it (Unix seconds), by namespace and phase.</summary>
    public static ObservableGauge<double> OldestInPhase { get; } = OperatorTelemetry.Meter.CreateObservableGauge(
        "ferry.trainingjobs.oldest_in_phase.timestamp",
        () => Jobs.Values
            .Where(j => !IsFinal(j.Phase))
            .GroupBy(j => (j.Namespace, j.Phase))
            .Select(g => new Measurement<double>(g.Min(j => j.PhaseSince).ToUnixTimeMilliseconds() / 1000.0,
                Tag("namespace", g.Key.Namespace), Tag("phase", g.Key.Phase))),
        unit: "s",
        description: "Unix time at which the longest-waiting job in each phase (not final) entered it; time() minus it is how long it has waited.");

    /// <summary>Latest training metric values of running jobs (the values in status.metrics).</summary>
    public static ObservableGauge<double> TrainingMetric { get; } = OperatorTelemetry.Meter.CreateObservableGauge(
        "ferry.training.metric",
        () => Jobs.Values
            .Where(j => j.Phase == nameof(TrainingJobPhase.Running))
            .SelectMany(j => j.Metrics.Select(m => new Measurement<double>(m.Value,
                Tag("namespace", j.Namespace), Tag("trainingjob", j.Name), Tag("metric", m.Name)))),
        description: "Latest value of each training metric of running jobs, by namespace, trainingjob and metric.");

    /// <summary>Attempts that started creating their replicas (first attempts, restarts and resumes), by namespace and backend.</summary>
    public static Counter<long> Starts { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.trainingjob.starts", description: "Attempts started, by namespace and backend.");

    /// <summary>New attempts scheduled after a failure or disruption, by namespace, backend and reason.</summary>
    public static Counter<long> Restarts { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.trainingjob.restarts", description: "Attempts scheduled after a failure or disruption, by namespace, backend and reason.");

    /// <summary>Jobs that succeeded, by namespace and backend.</summary>
    public static Counter<long> Completions { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.trainingjob.completions", description: "Jobs that succeeded, by namespace and backend.");

    /// <summary>Jobs that failed, by namespace, backend and reason (the Failed condition's reason).</summary>
    public static Counter<long> Failures { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.trainingjob.failures", description: "Jobs that failed, by namespace, backend and reason.");

    /// <summary>Jobs stopped by a training-health rule, by namespace, backend and reason (the Stopped condition's reason).</summary>
    public static Counter<long> Stops { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.trainingjob.stops", description: "Jobs stopped by a training-health rule, by namespace, backend and reason.");

    /// <summary>Time from a job's creation to its first attempt running, by backend.</summary>
    public static Histogram<double> TimeToRunning { get; } = OperatorTelemetry.Seconds(
        "ferry.trainingjob.time_to_running", "Time from a job's creation until its first attempt runs, by backend.", TimeToRunningBuckets);

    /// <summary>Run time of finished jobs (start to completion), by backend and final phase.</summary>
    public static Histogram<double> Duration { get; } = OperatorTelemetry.Seconds(
        "ferry.trainingjob.duration", "Run time of finished jobs from start to completion, by backend and phase.", DurationBuckets);

    /// <summary>
    /// Records the status a reconcile settled for <paramref name="job"/> (whose <c>Status</c> is what was read, before
    /// the pass): the transitions from <c>job.Status</c> to <paramref name="after"/> count once, and the job's
    /// current phase and metrics are what the gauges report.
    /// </summary>
    public static void Observe(TrainingJob job, TrainingJobStatus after, DateTimeOffset now)
    {
        var ns = job.Metadata.NamespaceProperty ?? "";
        var name = job.Metadata.Name ?? "";
        var before = job.Status;
        var backend = job.Spec.Backend.ToString();
        var phase = (after.Phase ?? TrainingJobPhase.Pending).ToString();
        var key = (ns, name);
        var since = Jobs.TryGetValue(key, out var known) && known.Phase == phase ? known.PhaseSince : now;
        Jobs[key] = new JobState(ns, name, phase, backend, since, after.Metrics?.ToList() ?? []);

        var nsTag = Tag("namespace", ns);
        var backendTag = Tag("backend", backend);
        var wasActive = before?.Phase is TrainingJobPhase.Starting or TrainingJobPhase.Running;
        if (!wasActive && after.Phase is TrainingJobPhase.Starting or TrainingJobPhase.Running)
        {
            Starts.Add(1, nsTag, backendTag);
        }

        if ((before?.Attempt ?? 0) >= 1 && after.Attempt > before!.Attempt)
        {
            Restarts.Add(1, nsTag, backendTag, Tag("reason", ReasonOf(after, TrainingJobConditions.Running)));
        }

        if (after.Phase == TrainingJobPhase.Running && before?.Phase != TrainingJobPhase.Running
            && after.Attempt is null or 1 && job.Metadata.CreationTimestamp is { } created)
        {
            TimeToRunning.Record(Math.Max(0, (now - DateTime.SpecifyKind(created, DateTimeKind.Utc)).TotalSeconds), backendTag);
        }

        if (after.Phase == before?.Phase || !IsFinal(phase))
        {
            return;
        }

        switch (after.Phase)
        {
            case TrainingJobPhase.Succeeded:
                Completions.Add(1, nsTag, backendTag);
                break;
            case TrainingJobPhase.Failed:
                Failures.Add(1, nsTag, backendTag, Tag("reason", ReasonOf(after, TrainingJobConditions.Failed)));
                break;
            case TrainingJobPhase.Stopped:
                Stops.Add(1, nsTag, backendTag, Tag("reason", ReasonOf(after, TrainingJobConditions.Stopped)));
                break;
        }

        if (after.StartTime is { } started)
        {
            var ended = after.CompletionTime is { } completed ? new DateTimeOffset(DateTime.SpecifyKind(completed, DateTimeKind.Utc)) : now;
            Duration.Record(Math.Max(0, (ended - DateTime.SpecifyKind(started, DateTimeKind.Utc)).TotalSeconds), backendTag, Tag("phase", phase));
        }
    }

    /// <summary>Drops a job that no longer exists: its series leave the exposition.</summary>
    public static void Forget(string ns, string name) => Jobs.TryRemove((ns, name), out _);

    private static string ReasonOf(TrainingJobStatus status, string condition) =>
        ConditionList.Find(status.Conditions, condition)?.Reason is { Length: > 0 } reason ? reason : "Unknown";

    private static bool IsFinal(string phase) =>
        phase is nameof(TrainingJobPhase.Succeeded) or nameof(TrainingJobPhase.Failed) or nameof(TrainingJobPhase.Stopped);

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    private sealed record JobState(string Namespace, string Name, string Phase, string Backend, DateTimeOffset PhaseSince, IReadOnlyList<MetricValue> Metrics);
}
