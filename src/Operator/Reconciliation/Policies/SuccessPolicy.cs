using Ferry.Crds.V1Alpha1;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// Every replica of the current attempt succeeded: the job is Complete, as a batch/v1 Job, with the model's URI
/// (what replica 0 reported, else where the backend said it lands). Clean-up follows in the next pass.
/// </summary>
public static class SuccessPolicy
{
    /// <summary>Records success when every replica succeeded.</summary>
    public static bool Decide(DecisionContext c)
    {
        var succeeded = c.Current.Where(r => r.State == ReplicaState.Succeeded).Select(r => r.Index).Distinct().Count();
        if (succeeded < c.Required)
        {
            return false;
        }

        var status = c.Status;
        status.Phase = TrainingJobPhase.Succeeded;
        status.CompletionTime = c.Now;
        status.Duration = status.StartTime is { } began ? TrainingJobStatus.FormatDuration(c.Now - DecisionContext.Utc(began)) : null;
        status.FailureReason = null;
        status.NextAttemptTime = null;
        var model = c.Current.Where(r => r.Index == 0).Select(r => r.ModelUri).FirstOrDefault(m => m is not null) ?? c.Input.Artifacts?.Model;
        if (model is not null)
        {
            status.Artifacts ??= new ArtifactsStatus();
            status.Artifacts.Model = model;
        }

        var what = c.Input.Traits.RemoteJob ? "The training job succeeded" : $"All {c.Required} replicas succeeded";
        var message = $"{what} on attempt {c.Attempt}." + (model is null ? "" : $" Model: {model}");
        c.SetCondition(TrainingJobConditions.Running, false, R.Succeeded, "Training finished.");
        c.SetCondition(TrainingJobConditions.Complete, true, R.Succeeded, message);
        c.Event(TrainingJobEvent.Normal, R.Succeeded, message);
        c.Ended();
        return true;
    }
}
