using Ferry.Crds.V1Alpha1;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// `spec.suspend`: the first pass records Suspended, later passes stop the replicas (status first, then the act).
/// Suspended time never counts towards the deadlines: `startTime` is cleared, as batch/v1 Job does, and set again
/// when replicas run after the resume. Resuming re-creates the same attempt on replica backends; on a remote-job
/// backend (a stopped SageMaker job cannot be resumed) it starts the next attempt, which uses up no retry.
/// </summary>
public static class SuspendPolicy
{
    /// <summary>Settles a suspended job; on resume records it and lets the later policies start the replicas.</summary>
    public static bool Decide(DecisionContext c)
    {
        if (c.Spec.Suspend)
        {
            var resumeFrom = ResumeText(c.Spec, c.Status);
            c.Status.Phase = TrainingJobPhase.Suspended;
            c.Status.Replicas = new ReplicaStatus();
            c.Status.StartTime = null;
            c.Status.AttemptStartTime = null;
            c.SetCondition(TrainingJobConditions.Suspended, true, R.Suspended,
                $"spec.suspend is true: the replicas are stopped. Set spec.suspend to false to resume; {resumeFrom}.");
            c.SetCondition(TrainingJobConditions.Running, false, R.Suspended, "The job is suspended.");
            if (c.Previous?.Phase != TrainingJobPhase.Suspended)
            {
                c.Event(TrainingJobEvent.Normal, R.Suspended, $"Suspending attempt {c.Attempt}: its replicas will be stopped.");
                if (c.Live.Count > 0)
                {
                    c.Requeue(TimeSpan.Zero);
                }
            }
            else
            {
                c.Delete(c.Live.Where(r => r.IsActive || !c.Input.Traits.RemoteJob));
            }

            return true;
        }

        if (ConditionList.IsTrue(c.Conditions, TrainingJobConditions.Suspended))
        {
            var attempt = c.Attempt;
            if (c.Input.Traits.RemoteJob && c.Units.Any(u => u.Attempt == attempt))
            {
                // The stopped remote job cannot run again: the next attempt takes its place without using up a retry.
                attempt++;
                c.Status.Attempt = attempt;
            }

            var message = $"spec.suspend is false: attempt {attempt} starts; {ResumeText(c.Spec, c.Status)}.";
            c.SetCondition(TrainingJobConditions.Suspended, false, R.Resumed, message);
            c.Event(TrainingJobEvent.Normal, R.Resumed, message);
            if (attempt == c.Attempt)
            {
                return false;
            }

            c.Requeue(TimeSpan.Zero);
            return true;
        }

        return false;
    }

    /// <summary>
    /// What resuming really does: only a job with spec.checkpoint resumes from a checkpoint, and it says which one once
    /// a replica reported it (status.checkpoint).
    /// </summary>
    public static string ResumeText(TrainingJobSpec spec, TrainingJobStatus? status = null) => spec.Checkpoint?.Uri is { Length: > 0 } uri
        ? status?.Checkpoint is null
            ? $"training resumes from the last checkpoint in {uri}"
            : $"training resumes {PostMortemPolicy.ResumeFrom(spec, status)}"
        : "training starts again from the beginning, because spec.checkpoint is not set";
}
