using Ferry.Operator.Agent;

namespace Ferry.Operator.Reconciliation;

/// <summary>The state of one replica (or of a backend's remote job) as the backend observed it.</summary>
public enum ReplicaState
{
    /// <summary>Created but not running yet (scheduling, pulling, downloading inputs).</summary>
    Pending,

    /// <summary>The training process runs.</summary>
    Running,

    /// <summary>The training process exited 0.</summary>
    Succeeded,

    /// <summary>The replica failed (non-zero exit, init failure, eviction, lost node).</summary>
    Failed,
}

/// <summary>
/// One replica of one attempt as the backend sees it right now: the input of the pure status function.
/// Backends translate their children (pods, processes) into these, parsing their own formats (the agent's termination
/// message) into the backend-neutral fields below, so the status function never reads a backend's wire format.
/// </summary>
/// <param name="Name">The child's name (pod `&lt;job&gt;-&lt;index&gt;`), used to delete it.</param>
/// <param name="Index">Replica index (0-based).</param>
/// <param name="Attempt">Attempt the child belongs to (label `ferry.dev/attempt`).</param>
/// <param name="State">Current state.</param>
/// <param name="Terminating">Deletion was requested and the child is still going away.</param>
/// <param name="StartedAt">When the training process started, if it did.</param>
/// <param name="ExitCode">Exit code once finished.</param>
/// <param name="FailureReason">Why the replica failed (the failure file's text, or the backend's reason), or null.</param>
/// <param name="Metrics">The latest metric values the replica reported, or null.</param>
/// <param name="ModelUri">Where the replica uploaded the model (replica 0 on success), or null.</param>
/// <param name="Disruption">
/// Why the replica was disrupted (evicted, preempted, its spot node reclaimed: the pod's `DisruptionTarget`
/// condition), or null. A disruption restarts the attempt without using up `maxRetries`.
/// </param>
/// <param name="Blocked">
/// Why a replica that is not running yet cannot start (e.g. `ImagePullBackOff: ...`, `Unschedulable: ...`), with what to
/// fix, or null. Shown in status; the start-up deadline fails the attempt if it persists.
/// </param>
/// <param name="Uid">The child's uid, so a delete never hits a newer child of the same name (a later attempt's pod).</param>
public sealed record ReplicaObservation(
    string Name,
    int Index,
    int Attempt,
    ReplicaState State,
    bool Terminating = false,
    DateTime? StartedAt = null,
    int? ExitCode = null,
    string? FailureReason = null,
    IReadOnlyList<ObservedMetric>? Metrics = null,
    string? ModelUri = null,
    string? Disruption = null,
    string? Blocked = null,
    string? Uid = null)
{
    /// <summary>Pending or running: the replica holds resources.</summary>
    public bool IsActive => State is ReplicaState.Pending or ReplicaState.Running;

    /// <summary>The node the replica ran on (pod `spec.nodeName`; the host for Local), or null.</summary>
    public string? Node { get; init; }

    /// <summary>When the replica ended (the container, by the kubelet's clock), if it did.</summary>
    public DateTime? FinishedAt { get; init; }

    /// <summary>
    /// When the training process inside ended, by the agent's clock (its termination message's `exitedAt`); the
    /// container ends later, after the agent's wrap-up (checkpoint sync, log copy, report). Null without the agent.
    /// </summary>
    public DateTime? ProcessEndedAt { get; init; }

    /// <summary>What orders the replicas of a failed attempt: the process's end when the agent reported it, else the replica's.</summary>
    public DateTime EndedAtForOrdering => ProcessEndedAt ?? FinishedAt ?? DateTime.MaxValue;

    /// <summary>Why it ended in one word when the backend knows better than the exit code: `OOMKilled`, `Evicted`, `Preempted`, or null.</summary>
    public string? Cause { get; init; }

    /// <summary>The last lines of its output the agent reported (at most 20 lines / 2 KB, secrets masked), or null.</summary>
    public string? LogTail { get; init; }

    /// <summary>Where its full log was copied, or null.</summary>
    public string? LogUri { get; init; }

    /// <summary>The latest complete checkpoint it synced, or null.</summary>
    public CheckpointReport? Checkpoint { get; init; }

    /// <summary>It ended because it was told to stop (SIGTERM from a deletion), not on its own.</summary>
    public bool StoppedByRequest { get; init; }

    // Lineage and the training report (replica 0's agent reports them; the pod's runtime reports the image digest).

    /// <summary>The input channels as the agent listed them, or null.</summary>
    public IReadOnlyList<InputReport>? Inputs { get; init; }

    /// <summary>Size and SHA-256 of the model.tar.gz the replica uploaded, or null.</summary>
    public ModelDigest? ModelDigest { get; init; }

    /// <summary>Where the replica wrote the training report, or null.</summary>
    public string? ReportUri { get; init; }

    /// <summary>The digest (sha256:…) of the image the training container ran, when the runtime reports it, or null.</summary>
    public string? ImageDigest { get; init; }

    /// <summary>
    /// What rank 0 reported while it runs (metric values after the status' cursor and progress, on the operator's
    /// clock), or null when the backend has no new report for it.
    /// </summary>
    public Insight.LiveReport? Live { get; init; }

    /// <summary>
    /// The replica with the fields of the agent's termination message <paramref name="message"/> (JSON, or plain text
    /// from an image without the agent, taken as the failure reason); the failure reason is cut to 1024 characters.
    /// </summary>
    public ReplicaObservation WithTerminationMessage(string? message)
    {
        var parsed = TerminationMessage.Parse(message, ExitCode ?? 0);
        if (parsed is null)
        {
            return this;
        }

        var reason = parsed.FailureReason is { Length: > TerminationMessage.FailureReasonBytes } text
            ? text[..TerminationMessage.FailureReasonBytes]
            : parsed.FailureReason;
        return this with
        {
            FailureReason = State == ReplicaState.Succeeded ? FailureReason : reason ?? FailureReason,
            Metrics = parsed.Metrics ?? Metrics,
            ModelUri = parsed.Model ?? ModelUri,
            LogTail = State == ReplicaState.Succeeded ? LogTail : parsed.LogTail ?? LogTail,
            LogUri = parsed.Logs ?? LogUri,
            Checkpoint = parsed.Checkpoint ?? Checkpoint,
            StoppedByRequest = StoppedByRequest || parsed.Stopped,
            Inputs = parsed.Inputs ?? Inputs,
            ModelDigest = parsed.ModelDigest ?? ModelDigest,
            ReportUri = parsed.Report ?? ReportUri,
            ProcessEndedAt = parsed.ExitedAt?.UtcDateTime ?? ProcessEndedAt,
        };
    }
}
