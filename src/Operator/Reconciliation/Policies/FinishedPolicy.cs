using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// A job whose status recorded Succeeded, Failed or Stopped is settled for good: nothing restarts it. Only what the
/// recorded end implies still acts: `cleanPodPolicy` on the replicas left, stopping replicas that must not outlive
/// the job (a deadline, a refused spec, a stop), and the TTL.
/// </summary>
public static class FinishedPolicy
{
    /// <summary>Reasons whose replicas are stopped whatever the clean-up policy: they were told to end.</summary>
    private static readonly HashSet<string> MustStop = new(StringComparer.Ordinal)
    {
        TrainingJobStatusCalculator.Reasons.MaxRuntimeExceeded,
        TrainingJobStatusCalculator.Reasons.MaxWaitExceeded,
        TrainingJobStatusCalculator.Reasons.InvalidSpec,
    };

    /// <summary>Settles a finished job; false when the job has not finished.</summary>
    public static bool Decide(DecisionContext c)
    {
        if (!TrainingJobStatusCalculator.IsFinished(c.Previous?.Phase))
        {
            return false;
        }

        var failedBy = ConditionList.Find(c.Conditions, TrainingJobConditions.Failed) is { Status: "True" } failed ? failed.Reason : null;
        var stopAll = c.Previous!.Phase == TrainingJobPhase.Stopped || (failedBy is not null && MustStop.Contains(failedBy));
        c.Delete(CleanUp(c.Spec, c.Live));
        if (stopAll)
        {
            c.Delete(c.Live.Where(r => r.IsActive));
        }

        TimeToLive(c);
        return true;
    }

    /// <summary>Requeues until `ttlSecondsAfterFinished` has passed since completion, then asks to delete the job.</summary>
    public static void TimeToLive(DecisionContext c)
    {
        if (c.Spec.InCluster?.TtlSecondsAfterFinished is not { } ttl || c.Status.CompletionTime is not { } completed)
        {
            return;
        }

        var expiry = DecisionContext.Utc(completed).AddSeconds(ttl);
        if (c.Now >= expiry)
        {
            c.DeleteJob = true;
        }
        else
        {
            c.Requeue(expiry - c.Now);
        }
    }

    /// <summary>Which replicas a finished job deletes: `None` keeps all, `Running` (default) the active ones, `All` all.</summary>
    public static IEnumerable<ReplicaObservation> CleanUp(TrainingJobSpec spec, IReadOnlyList<ReplicaObservation> live) =>
        (spec.InCluster?.CleanPodPolicy ?? CleanPodPolicy.Running) switch
        {
            CleanPodPolicy.None => [],
            CleanPodPolicy.All => live,
            _ => live.Where(r => r.IsActive),
        };
}
