using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Reconciliation;

/// <summary>The input of <see cref="TrainingJobStatusCalculator"/>: the job as read, its children as observed, the time.</summary>
/// <param name="Job">The TrainingJob (spec, metadata and the status last written).</param>
/// <param name="Replicas">Every child replica the backend found, of any attempt.</param>
/// <param name="Now">The injected clock's time.</param>
/// <param name="InvalidSpec">Why the operator cannot run this spec (the message names the field and the fix), or null.</param>
public sealed record TrainingJobObservation(
    TrainingJob Job,
    IReadOnlyList<ReplicaObservation> Replicas,
    DateTimeOffset Now,
    string? InvalidSpec = null);

/// <summary>Create the replicas <paramref name="Indexes"/> of attempt <paramref name="Attempt"/> (they do not exist).</summary>
public sealed record ReplicaStart(int Attempt, IReadOnlyList<int> Indexes);

/// <summary>A Kubernetes Event to record for a transition (type `Normal` or `Warning`).</summary>
public sealed record TrainingJobEvent(string Type, string Reason, string Message)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";
}

/// <summary>
/// The output of <see cref="TrainingJobStatusCalculator"/>: the status to write and what the backend must do.
/// </summary>
/// <param name="Status">The desired status (written only when it differs semantically from the current one).</param>
/// <param name="Start">Replicas to create, or null.</param>
/// <param name="Delete">Replicas to delete.</param>
/// <param name="DeleteJob">The job finished longer than `ttlSecondsAfterFinished` ago: delete the TrainingJob.</param>
/// <param name="RequeueAfter">Look again after this delay (a deadline or a TTL is pending).</param>
/// <param name="Events">Events for the transitions this decision makes.</param>
public sealed record TrainingJobDecision(
    TrainingJobStatus Status,
    ReplicaStart? Start,
    IReadOnlyList<ReplicaObservation> Delete,
    bool DeleteJob,
    TimeSpan? RequeueAfter,
    IReadOnlyList<TrainingJobEvent> Events);
