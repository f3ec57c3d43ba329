using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;

namespace Ferry.Operator.Reconciliation;

/// <summary>The input of <see cref="TrainingJobStatusCalculator"/>: the job as read, what its backend observed, the time.</summary>
/// <param name="Job">The TrainingJob (spec, metadata and the status last written).</param>
/// <param name="Replicas">Every child replica the backend found, of any attempt (replica backends).</param>
/// <param name="Now">The injected clock's time.</param>
/// <param name="InvalidSpec">
/// Why the operator cannot start this spec (the message names the field and the fix), or null. Only consulted before
/// an attempt starts: a configuration change never fails a job that is already running.
/// </param>
public sealed record TrainingJobObservation(
    TrainingJob Job,
    IReadOnlyList<ReplicaObservation> Replicas,
    DateTimeOffset Now,
    string? InvalidSpec = null)
{
    /// <summary>The reason recorded with <see cref="InvalidSpec"/> (InvalidSpec when null; e.g. RoleNotAllowed, NameConflict).</summary>
    public string? InvalidSpecReason { get; init; }

    /// <summary>The backend's remote jobs, one per attempt, of any attempt (remote-job backends such as SageMaker).</summary>
    public IReadOnlyList<RemoteJobObservation> RemoteJobs { get; init; } = [];

    /// <summary>Where the backend puts the job's outputs (`model` is where the model lands on success), or null.</summary>
    public ArtifactsStatus? Artifacts { get; init; }

    /// <summary>What kind of backend observed the job.</summary>
    public BackendTraits Traits { get; init; } = BackendTraits.Replicas;

    /// <summary>The operator's lifecycle settings (start-up deadline, restart backoff, disruption cap).</summary>
    public LifecycleSettings Settings { get; init; } = LifecycleSettings.Default;

    /// <summary>
    /// Why the backend could not create the attempt's children just now (e.g. a quota or Pod Security refusal, with
    /// what to fix), or null. Shown in status; retried until the start-up deadline fails the attempt.
    /// </summary>
    public string? StartBlocked { get; init; }
}

/// <summary>Deadlines of `spec.stoppingCondition` a backend enforces itself, so the operator does not enforce them twice.</summary>
[Flags]
public enum EnforcedDeadlines
{
    None = 0,

    /// <summary>`maxRuntimeSeconds` (SageMaker's MaxRuntimeInSeconds).</summary>
    MaxRuntime = 1,

    /// <summary>`maxWaitSeconds` (SageMaker's MaxWaitTimeInSeconds).</summary>
    MaxWait = 2,
}

/// <summary>The shape of what a backend runs, as far as the status function needs to know it.</summary>
/// <param name="RemoteJob">
/// True when each attempt is one remote job whose name is never reused (SageMaker): a new attempt need not wait for
/// the previous one to go away, and a stopped job cannot be resumed (resuming starts the next attempt).
/// </param>
/// <param name="Enforces">The deadlines the backend enforces itself.</param>
public sealed record BackendTraits(bool RemoteJob, EnforcedDeadlines Enforces)
{
    /// <summary>Replicas as pods or processes; the operator enforces every deadline.</summary>
    public static BackendTraits Replicas { get; } = new(false, EnforcedDeadlines.None);
}

/// <summary>The operator's lifecycle settings (Helm values `lifecycle.*`).</summary>
/// <param name="StartupTimeout">How long an attempt may take from its creation until every replica runs before it fails.</param>
/// <param name="RestartBackoff">The wait before the second attempt; it doubles for each later one.</param>
/// <param name="MaxRestartBackoff">The longest wait between attempts.</param>
/// <param name="MaxDisruptions">How many disruptions (evictions, preemptions, spot reclaims) restart a job without using up `maxRetries`.</param>
public sealed record LifecycleSettings(TimeSpan StartupTimeout, TimeSpan RestartBackoff, TimeSpan MaxRestartBackoff, int MaxDisruptions)
{
    /// <summary>10 minutes to start, 10 s backoff doubling up to 5 minutes, 10 disruptions, 30 s for a failing gang to settle.</summary>
    public static LifecycleSettings Default { get; } = new(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5), 10);

    /// <summary>
    /// How long, after the first replica of an attempt fails, the operator waits for the replicas still running to
    /// end on their own before it decides the restart or the failure (Helm `lifecycle.failureSettleSeconds`). In
    /// collective training the other ranks usually fail within seconds of the first; letting them finish records
    /// the whole cascade, the replica that really failed first, and the checkpoint rank 0 synced on its way out, which
    /// the next attempt resumes from. Ranks that hang instead are deleted when it runs out.
    /// </summary>
    public TimeSpan FailureSettle { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The wait before restarting after the <paramref name="failures"/>-th failure: base × 2^(failures − 1), capped.</summary>
    public TimeSpan BackoffAfter(int failures)
    {
        if (failures < 1 || RestartBackoff <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(failures - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(RestartBackoff.Ticks * factor, MaxRestartBackoff.Ticks));
    }
}

/// <summary>
/// One attempt of a remote-job backend (a SageMaker training job) as observed: its state and what it reported.
/// </summary>
/// <param name="Name">The remote job's name (unique forever).</param>
/// <param name="Attempt">The attempt it runs.</param>
/// <param name="State">Pending (starting, downloading), Running (training, uploading), Succeeded or Failed.</param>
/// <param name="Stopping">A stop was requested and the job is still stopping.</param>
/// <param name="Stopped">The job ended because it was stopped.</param>
/// <param name="StartedAt">When training started, if it did.</param>
/// <param name="FailureReason">The backend's failure reason, or null.</param>
/// <param name="Metrics">The final (or latest) metric values, or null.</param>
/// <param name="ModelUri">Where the model was written, or null.</param>
/// <param name="Disruption">Why the job was interrupted (spot capacity reclaimed), or null.</param>
/// <param name="Details">The backend's own status to show under `status.sageMaker`, or null.</param>
/// <param name="Transitions">The job's status transitions so far, oldest first (one Event each, never repeated).</param>
public sealed record RemoteJobObservation(
    string Name,
    int Attempt,
    ReplicaState State,
    bool Stopping = false,
    bool Stopped = false,
    DateTime? StartedAt = null,
    string? FailureReason = null,
    IReadOnlyList<ObservedMetric>? Metrics = null,
    string? ModelUri = null,
    string? Disruption = null,
    SageMakerStatus? Details = null,
    IReadOnlyList<RemoteTransition>? Transitions = null)
{
    /// <summary>What the backend knows about the failure beyond its reason (the post-mortem), or null.</summary>
    public Policies.RemoteFailureDetails? FailureDetails { get; init; }

    /// <summary>What the remote job's rank 0 logged while it runs (metric values after the status' cursor, progress), or null.</summary>
    public Insight.LiveReport? Live { get; init; }

    /// <summary>The newest complete checkpoint in the job's checkpoint location (read when it ended or was interrupted), or null.</summary>
    public Agent.CheckpointReport? Checkpoint { get; init; }

    /// <summary>The remote job as the status function's unit of work: replica 0 of its attempt.</summary>
    public ReplicaObservation AsReplica() =>
        new(Name, 0, Attempt, State, Stopping, StartedAt, null, FailureReason, Metrics, ModelUri, Disruption)
        {
            Cause = FailureDetails?.FailedTransition,
            Node = FailureDetails?.Host,
            LogUri = FailureDetails?.LogUri,
            LogTail = FailureDetails?.LogTail,
            Live = Live,
            Checkpoint = Checkpoint,
        };
}

/// <summary>One status transition of a remote job (SageMaker's SecondaryStatusTransitions).</summary>
public sealed record RemoteTransition(string Status, DateTime StartTime, string? Message);

/// <summary>
/// Create the replicas <paramref name="Indexes"/> of attempt <paramref name="Attempt"/> (they do not exist).
/// <paramref name="NewAttempt"/> is true when nothing of the attempt exists yet: the spec is validated then, and only then.
/// </summary>
public sealed record ReplicaStart(int Attempt, IReadOnlyList<int> Indexes, bool NewAttempt = false);

/// <summary>A Kubernetes Event to record for a transition (type `Normal` or `Warning`).</summary>
public sealed record TrainingJobEvent(string Type, string Reason, string Message)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";
}

/// <summary>
/// The output of <see cref="TrainingJobStatusCalculator"/>: the status to write and what the backend must do.
/// Destructive actions (<see cref="Delete"/>, <see cref="DeleteJob"/>) are only ever decided from what the status
/// already recorded, never together with the transition that makes them necessary: a transition is written first,
/// and the next pass acts on it, so a failed status write never loses a decision whose evidence is already gone.
/// </summary>
/// <param name="Status">The desired status (written only when it differs semantically from the current one).</param>
/// <param name="Start">Replicas to create, or null.</param>
/// <param name="Delete">Replicas to delete (remote jobs: to stop).</param>
/// <param name="DeleteJob">The job finished longer than `ttlSecondsAfterFinished` ago: delete the TrainingJob.</param>
/// <param name="RequeueAfter">Look again after this delay (a deadline, a backoff or a TTL is pending; zero: act on what was just recorded).</param>
/// <param name="Events">Events for the transitions this decision makes.</param>
public sealed record TrainingJobDecision(
    TrainingJobStatus Status,
    ReplicaStart? Start,
    IReadOnlyList<ReplicaObservation> Delete,
    bool DeleteJob,
    TimeSpan? RequeueAfter,
    IReadOnlyList<TrainingJobEvent> Events);
