using Ferry.Crds.V1Alpha1;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// A healthy job on its way: clears away the previous attempt (its replicas are deleted now that the status records
/// the new attempt; replica backends reuse names, so the new attempt waits until they are gone), waits out the
/// restart backoff, creates the missing replicas, and says whether the attempt is starting — and what blocks it — or
/// running. Requeues for the start-up deadline while the attempt is not running.
/// </summary>
public static class ProgressPolicy
{
    /// <summary>Always settles the decision (the last policy of the chain).</summary>
    public static bool Decide(DecisionContext c)
    {
        var attempt = c.Attempt;
        var status = c.Status;
        var stale = c.Live.Where(r => r.Attempt != attempt).ToList();
        var remote = c.Input.Traits.RemoteJob;
        if (remote)
        {
            // Remote jobs of earlier attempts that still run are stopped; a new one never waits for them (unique names).
            c.Delete(stale.Where(r => r.IsActive));
        }
        else if (c.Current.Count == 0 && (stale.Count > 0 || c.Units.Any(r => r.Terminating)))
        {
            c.Delete(stale);
            status.Phase = TrainingJobPhase.Pending;
            c.SetCondition(TrainingJobConditions.Running, false, R.WaitingForPreviousAttempt,
                $"Waiting for the replicas of the previous attempt to be deleted before starting attempt {attempt}.");
            return true;
        }
        else
        {
            c.Delete(stale);
        }

        if (c.Current.Count == 0 && status.NextAttemptTime is { } next && DecisionContext.Utc(next) > c.Now)
        {
            status.Phase = TrainingJobPhase.Pending;
            c.SetCondition(TrainingJobConditions.Running, false, R.RestartBackoff,
                $"Attempt {attempt} starts at {DecisionContext.Utc(next):yyyy-MM-ddTHH:mm:ssZ} (restart backoff after a failure). {status.FailureReason}".TrimEnd());
            c.Requeue(DecisionContext.Utc(next) - c.Now);
            return true;
        }

        var present = c.Current.Select(r => r.Index).ToHashSet();
        var missing = Enumerable.Range(0, c.Required).Where(i => !present.Contains(i)).ToArray();
        if (missing.Length > 0)
        {
            c.Start = new ReplicaStart(attempt, missing, NewAttempt: c.Current.Count == 0);
            status.AttemptStartTime ??= c.Now;
            status.NextAttemptTime = null;
            var message = remote
                ? $"Created the training job for attempt {attempt}."
                : $"Created {missing.Length} of {c.Required} replicas for attempt {attempt}.";
            if (c.Current.Count == 0 && status.Checkpoint is not null && c.Spec.Checkpoint?.Uri is { Length: > 0 })
            {
                message += $" Resuming {PostMortemPolicy.ResumeFrom(c.Spec, status)}.";
            }
            c.SetCondition(TrainingJobConditions.Created, true, R.PodsCreated, message);
            c.Event(TrainingJobEvent.Normal, R.PodsCreated, message);
            status.Replicas = new ReplicaStatus
            {
                Active = (status.Replicas?.Active ?? 0) + missing.Length,
                Succeeded = status.Replicas?.Succeeded ?? 0,
                Failed = status.Replicas?.Failed ?? 0,
            };
        }

        var running = c.Current.Count(r => r.State == ReplicaState.Running);
        var succeeded = c.Current.Count(r => r.State == ReplicaState.Succeeded);
        if (c.Start is null && running > 0 && running + succeeded >= c.Required)
        {
            status.Phase = TrainingJobPhase.Running;
            var message = remote ? $"The training job of attempt {attempt} is running." : $"All {c.Required} replicas of attempt {attempt} are running.";
            if (c.Previous?.Phase != TrainingJobPhase.Running)
            {
                c.Event(TrainingJobEvent.Normal, "Running", message);
            }

            c.SetCondition(TrainingJobConditions.Running, true, R.AllReplicasRunning, message);
            return true;
        }

        status.Phase = TrainingJobPhase.Starting;
        if (FailurePolicy.Blocked(c) is { } blocked)
        {
            var message = $"Attempt {attempt} cannot start: {blocked}";
            if (ConditionList.Find(c.Conditions, TrainingJobConditions.Running)?.Message != message)
            {
                c.Event(TrainingJobEvent.Warning, R.StartupBlocked, message);
            }

            c.SetCondition(TrainingJobConditions.Running, false, R.StartupBlocked, message);
        }
        else
        {
            c.SetCondition(TrainingJobConditions.Running, false, R.ReplicasStarting,
                remote ? $"The training job of attempt {attempt} is starting." : $"{running} of {c.Required} replicas of attempt {attempt} are running.");
        }

        if (status.AttemptStartTime is { } attemptStart)
        {
            c.Requeue(DecisionContext.Utc(attemptStart) + c.Input.Settings.StartupTimeout - c.Now);
        }

        return true;
    }
}
