using Ferry.Crds.V1Alpha1;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// The state one decision is built in: the observation, read once (the current attempt, its units, the time), and the
/// status, actions and events the policies add. Each policy reads what it needs and either settles the decision or
/// leaves it to the next one. Pure: no I/O, the time comes from the observation.
/// </summary>
public sealed class DecisionContext
{
    private readonly List<ReplicaObservation> _delete = [];
    private TimeSpan? _requeue;

    /// <summary>Prepares a decision for <paramref name="input"/>.</summary>
    public DecisionContext(TrainingJobObservation input)
    {
        Input = input;
        Job = input.Job;
        Spec = input.Job.Spec;
        Previous = input.Job.Status;
        Now = Truncate(input.Now.UtcDateTime);
        Generation = input.Job.Metadata.Generation ?? 0;
        Status = Clone(Previous);
        Status.ObservedGeneration = Generation;
        Conditions = Status.Conditions?.ToList() ?? [];
        Units = input.Traits.RemoteJob ? [.. input.RemoteJobs.Select(j => j.AsReplica())] : input.Replicas;
        Required = input.Traits.RemoteJob ? 1 : Math.Max(Spec.Resources?.Replicas ?? 1, 1);
        Live = [.. Units.Where(r => !r.Terminating)];
        Attempt = Math.Max(Previous?.Attempt ?? 0, 1);
        Current = [.. Live.Where(r => r.Attempt == Attempt)];
    }

    public TrainingJobObservation Input { get; }

    public TrainingJob Job { get; }

    public TrainingJobSpec Spec { get; }

    /// <summary>The status as last written (what earlier passes recorded), or null for a new job.</summary>
    public TrainingJobStatus? Previous { get; }

    public DateTime Now { get; }

    public long Generation { get; }

    /// <summary>The status being decided (starts as a copy of <see cref="Previous"/>).</summary>
    public TrainingJobStatus Status { get; }

    public List<V1Condition> Conditions { get; }

    public List<TrainingJobEvent> Events { get; } = [];

    /// <summary>Every unit of work the backend observed (replicas, or one per remote job), of any attempt.</summary>
    public IReadOnlyList<ReplicaObservation> Units { get; }

    /// <summary>Units not going away.</summary>
    public IReadOnlyList<ReplicaObservation> Live { get; }

    /// <summary>Live units of the recorded attempt.</summary>
    public IReadOnlyList<ReplicaObservation> Current { get; }

    /// <summary>How many units an attempt has (replicas; 1 for a remote job).</summary>
    public int Required { get; }

    /// <summary>The attempt the status recorded (1 for a new job).</summary>
    public int Attempt { get; }

    public ReplicaStart? Start { get; set; }

    public bool DeleteJob { get; set; }

    /// <summary>Asks the backend to delete (stop) <paramref name="units"/>; only ever for what the status already recorded.</summary>
    public void Delete(IEnumerable<ReplicaObservation> units)
    {
        foreach (var unit in units)
        {
            if (!_delete.Contains(unit))
            {
                _delete.Add(unit);
            }
        }
    }

    /// <summary>Asks for another pass after <paramref name="delay"/> (the shortest request wins).</summary>
    public void Requeue(TimeSpan delay)
    {
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
        _requeue = _requeue is { } current && current <= delay ? current : delay;
    }

    public void SetCondition(string type, bool status, string reason, string message) =>
        ConditionList.Set(Conditions, type, status, reason, message, Generation, Now);

    public void Event(string type, string reason, string message) => Events.Add(new TrainingJobEvent(type, reason, message));

    /// <summary>
    /// Records the job's end as Failed (condition, reason, event, times). Nothing is deleted in the same pass: the next
    /// pass (<see cref="FinishedPolicy"/>) acts on what this recorded.
    /// </summary>
    public void Fail(string reason, string message, string failureReason)
    {
        Status.Phase = TrainingJobPhase.Failed;
        Status.CompletionTime = Now;
        Status.Duration = Status.StartTime is { } began ? TrainingJobStatus.FormatDuration(Now - Utc(began)) : null;
        Status.FailureReason = Cut(failureReason);
        Status.NextAttemptTime = null;
        if (ConditionList.Find(Conditions, TrainingJobConditions.Running) is not null)
        {
            SetCondition(TrainingJobConditions.Running, false, TrainingJobStatusCalculator.Reasons.Failed, "The job failed.");
        }

        SetCondition(TrainingJobConditions.Failed, true, reason, message);
        Event(TrainingJobEvent.Warning, reason, message);
        Ended();
    }

    /// <summary>After a recorded end: the next pass cleans up what still runs, and the TTL counts from now.</summary>
    public void Ended()
    {
        if (Live.Count > 0)
        {
            Requeue(TimeSpan.Zero);
        }

        FinishedPolicy.TimeToLive(this);
    }

    /// <summary>A failure reason as status keeps it: at most 1024 characters (SageMaker keeps 1024 bytes of the failure file).</summary>
    public static string Cut(string text) =>
        text.Length <= Agent.TerminationMessage.FailureReasonBytes ? text : text[..Agent.TerminationMessage.FailureReasonBytes];

    /// <summary>The decision as built.</summary>
    public TrainingJobDecision Finish()
    {
        Status.Conditions = Conditions.Count == 0 ? null : Conditions;
        return new TrainingJobDecision(Status, Start, [.. _delete], DeleteJob, _requeue, Events);
    }

    /// <summary>Times are kept to the second, as the API server stores them.</summary>
    public static DateTime Truncate(DateTime time)
    {
        var utc = time.Kind == DateTimeKind.Local ? time.ToUniversalTime() : DateTime.SpecifyKind(time, DateTimeKind.Utc);
        return new DateTime(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    }

    public static DateTime Utc(DateTime time) => DateTime.SpecifyKind(time, DateTimeKind.Utc);

    private static TrainingJobStatus Clone(TrainingJobStatus? status) =>
        status is null ? new TrainingJobStatus() : KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(status));
}
