using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation.Policies;
using k8s;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// The pure decision of a reconcile: from the job, what its backend observed and the time, what the status says and
/// what the backend must do. No I/O, no clock: table-tested. The job's state machine is a short chain of policies,
/// each settling the decision or passing it on:
/// finished (<see cref="FinishedPolicy"/>) → refused spec → suspend (<see cref="SuspendPolicy"/>) → deadlines
/// (<see cref="DeadlinePolicy"/>) → training rules (<see cref="RulePolicy"/>) → failure and retry (<see cref="FailurePolicy"/>) → success
/// (<see cref="SuccessPolicy"/>) → progress (<see cref="ProgressPolicy"/>); kstatus's conditions follow from the
/// result (<see cref="ReadinessConditions"/>).
/// </summary>
/// <remarks>
/// Status first: a transition (a restart, the end of the job, a suspend) is recorded in one pass and acted on in the
/// next, from what the status recorded. A status write that fails after a destructive act could otherwise lose the
/// attempt count, the failure reason or the end of the job, and a finished job could run again.
/// </remarks>
public static class TrainingJobStatusCalculator
{
    /// <summary>Reasons written to conditions and events.</summary>
    public static class Reasons
    {
        public const string PodsCreated = "PodsCreated";
        public const string ReplicasStarting = "ReplicasStarting";
        public const string AllReplicasRunning = "AllReplicasRunning";
        public const string Restarting = "Restarting";
        public const string Settling = "WaitingForReplicasToEnd";
        public const string Disrupted = "Disrupted";
        public const string RestartBackoff = "RestartBackoff";
        public const string StartupBlocked = "StartupBlocked";
        public const string WaitingForPreviousAttempt = "WaitingForPreviousAttempt";
        public const string Succeeded = "Succeeded";
        public const string ReplicaFailed = "ReplicaFailed";
        public const string MaxRetriesExceeded = "MaxRetriesExceeded";
        public const string MaxRuntimeExceeded = "MaxRuntimeExceeded";
        public const string MaxWaitExceeded = "MaxWaitExceeded";
        public const string InvalidSpec = "InvalidSpec";
        public const string Suspended = "Suspended";
        public const string Resumed = "Resumed";
        public const string Failed = "Failed";
        public const string RuleTriggered = "RuleTriggered";
    }

    /// <summary>Decides status and actions for <paramref name="input"/>.</summary>
    public static TrainingJobDecision Compute(TrainingJobObservation input)
    {
        var c = new DecisionContext(input);
        if (!FinishedPolicy.Decide(c))
        {
            Record(c);
            _ = RefuseInvalidSpec(c)
                || SuspendPolicy.Decide(c)
                || DeadlinePolicy.Decide(c)
                || RulePolicy.Decide(c)
                || FailurePolicy.Decide(c)
                || SuccessPolicy.Decide(c)
                || ProgressPolicy.Decide(c);
            Insight.Lineage.LineageRecorder.Record(c.Spec, c.Status, c.Current, c.Attempt);
        }

        PostMortemPolicy.Complete(c);
        LiveMetricsPolicy.Complete(c);
        ReadinessConditions.Apply(c);
        return c.Finish();
    }

    /// <summary>Succeeded, Failed and Stopped are final: nothing restarts them.</summary>
    public static bool IsFinished(TrainingJobPhase? phase) =>
        phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed or TrainingJobPhase.Stopped;

    /// <summary>The failure text of a replica: what it reported, else its exit code; at most 1024 characters.</summary>
    public static string FailureText(ReplicaObservation replica) => FailurePolicy.ReasonOf(replica);

    /// <summary>What the observation says, whatever is decided: attempt, counts, metrics, start time, artifact locations.</summary>
    private static void Record(DecisionContext c)
    {
        var status = c.Status;
        status.Attempt = c.Attempt;
        status.Experiment = c.Spec.Experiment;
        if (c.Input.Artifacts is { } artifacts)
        {
            status.Artifacts = new ArtifactsStatus { Model = status.Artifacts?.Model, Checkpoints = artifacts.Checkpoints, Output = artifacts.Output, Report = status.Artifacts?.Report };
        }

        status.Replicas = new ReplicaStatus
        {
            Active = c.Current.Count(r => r.IsActive),
            Succeeded = c.Current.Count(r => r.State == ReplicaState.Succeeded),
            Failed = c.Current.Count(r => r.State == ReplicaState.Failed),
        };
        LiveMetricsPolicy.Record(c);
        RecordMetrics(c);
        PostMortemPolicy.RecordCheckpoint(c);
        if (status.StartTime is null && c.Units.Any(r => r.Attempt == c.Attempt && r.State != ReplicaState.Pending))
        {
            status.StartTime = DecisionContext.Truncate(c.Units
                .Where(r => r.Attempt == c.Attempt && r.StartedAt is not null)
                .Select(r => DecisionContext.Utc(r.StartedAt!.Value))
                .DefaultIfEmpty(c.Now)
                .Min());
        }

        if (c.Input.RemoteJobs.FirstOrDefault(j => j.Attempt == c.Attempt) is { Details: { } details } remote)
        {
            status.SageMaker = RecordTransitions(c, remote, details);
        }
    }

    /// <summary>
    /// One Event per status transition of the remote job not yet reported: the status keeps how many of this job's
    /// transitions were reported, so a later pass (or another operator replica) never reports one again.
    /// </summary>
    private static SageMakerStatus RecordTransitions(DecisionContext c, RemoteJobObservation remote, SageMakerStatus details)
    {
        var recorded = KubernetesJson.Deserialize<SageMakerStatus>(KubernetesJson.Serialize(details));
        var previous = c.Previous?.SageMaker;
        var reported = previous?.JobName == details.JobName ? previous?.TransitionsReported ?? 0 : 0;
        var transitions = remote.Transitions ?? [];
        for (var i = reported; i < transitions.Count; i++)
        {
            var transition = transitions[i];
            var warning = transition.Status is "Failed" or "Interrupted" or "MaxRuntimeExceeded" or "MaxWaitTimeExceeded";
            var message = $"SageMaker job {details.JobName}: {transition.Status}{(transition.Message is { Length: > 0 } m ? $" ({m})" : "")}.";
            if (transition.Status == "Interrupted" && c.Spec.Checkpoint?.Uri is { Length: > 0 })
            {
                // SageMaker restarts the job itself once capacity returns, with the checkpoints it synced.
                message += $" It resumes {PostMortemPolicy.ResumeFrom(c.Spec, c.Status)} when capacity returns.";
            }

            c.Event(warning ? TrainingJobEvent.Warning : TrainingJobEvent.Normal, "SageMaker" + transition.Status, message);
        }

        recorded.TransitionsReported = Math.Max(reported, transitions.Count);
        return recorded;
    }

    /// <summary>The spec cannot run (checked before an attempt starts only): the job fails; nothing ran yet.</summary>
    private static bool RefuseInvalidSpec(DecisionContext c)
    {
        if (c.Input.InvalidSpec is not { } invalid)
        {
            return false;
        }

        c.Fail(c.Input.InvalidSpecReason ?? Reasons.InvalidSpec, invalid, invalid);
        return true;
    }

    /// <summary>Latest metric values of the current attempt's replicas; replica 0's values win.</summary>
    private static void RecordMetrics(DecisionContext c)
    {
        var metrics = (c.Status.Metrics ?? []).ToDictionary(m => m.Name, StringComparer.Ordinal);
        var changed = false;
        foreach (var replica in c.Current.Where(r => r.Metrics is not null).OrderByDescending(r => r.Index))
        {
            foreach (var metric in replica.Metrics!)
            {
                if (double.IsFinite(metric.Value))
                {
                    // The live value of the same number keeps the step and epoch it was printed at.
                    var known = metrics.GetValueOrDefault(metric.Name) is { } live && live.Value.Equals(metric.Value) ? live : null;
                    metrics[metric.Name] = new MetricValue
                    {
                        Name = metric.Name,
                        Value = metric.Value,
                        Timestamp = known?.Timestamp ?? DecisionContext.Truncate(metric.Timestamp.UtcDateTime),
                        Step = known?.Step,
                        Epoch = known?.Epoch,
                    };
                    changed = true;
                }
            }
        }

        if (changed)
        {
            c.Status.Metrics = [.. metrics.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];
        }
    }
}
