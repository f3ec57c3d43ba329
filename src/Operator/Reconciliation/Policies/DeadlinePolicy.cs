using Ferry.Crds.V1Alpha1;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// `spec.stoppingCondition`, for the deadlines the backend does not enforce itself. `maxRuntimeSeconds` counts from
/// `startTime` (the first replica running; a resume after a suspend starts it again, so suspended time never counts;
/// retries do not). `maxWaitSeconds` (spot) counts from the job's creation or its last resume, whichever is later,
/// and includes waiting for capacity. Past a deadline the job fails; the replicas stop in the next pass.
/// </summary>
public static class DeadlinePolicy
{
    /// <summary>Fails a job past a deadline; otherwise requeues for the nearest one.</summary>
    public static bool Decide(DecisionContext c)
    {
        var enforced = c.Input.Traits.Enforces;
        if (!enforced.HasFlag(EnforcedDeadlines.MaxRuntime)
            && c.Spec.StoppingCondition?.MaxRuntimeSeconds is { } maxRuntime && c.Status.StartTime is { } startTime)
        {
            var deadline = DecisionContext.Utc(startTime).AddSeconds(maxRuntime);
            if (c.Now >= deadline)
            {
                var message = $"The job ran longer than spec.stoppingCondition.maxRuntimeSeconds ({maxRuntime}s) and was stopped; raise the limit or make training shorter.";
                c.Fail(R.MaxRuntimeExceeded, message, message);
                return true;
            }

            c.Requeue(deadline - c.Now);
        }

        if (!enforced.HasFlag(EnforcedDeadlines.MaxWait)
            && c.Spec.Spot && c.Spec.StoppingCondition?.MaxWaitSeconds is { } maxWait && WaitStart(c) is { } waitStart)
        {
            var deadline = waitStart.AddSeconds(maxWait);
            if (c.Now >= deadline)
            {
                var message = $"The spot job did not finish within spec.stoppingCondition.maxWaitSeconds ({maxWait}s) of its creation or last resume (waiting for spot capacity included); raise the limit or set spec.spot: false.";
                c.Fail(R.MaxWaitExceeded, message, message);
                return true;
            }

            c.Requeue(deadline - c.Now);
        }

        return false;
    }

    private static DateTime? WaitStart(DecisionContext c)
    {
        DateTime? created = c.Job.Metadata.CreationTimestamp is { } t ? DecisionContext.Utc(t) : null;
        DateTime? resumed = ConditionList.Find(c.Conditions, TrainingJobConditions.Suspended) is { Status: "False", LastTransitionTime: { } at }
            ? DecisionContext.Utc(at)
            : null;
        return created is null ? resumed : resumed is null ? created : created > resumed ? created : resumed;
    }
}
