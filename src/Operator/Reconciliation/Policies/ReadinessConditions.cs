using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// kstatus's conditions, derived from the phase so GitOps health checks (Flux, kstatus, kpt) read a TrainingJob
/// right: `Reconciling` (abnormal-true, present only while True) while the job progresses, `Stalled` (likewise) once it
/// ended without success, and `Ready`, True only once it succeeded. A suspended job is neither: it rests as asked.
/// </summary>
public static class ReadinessConditions
{
    /// <summary>Sets Ready, Reconciling and Stalled from the decided phase.</summary>
    public static void Apply(DecisionContext c)
    {
        var phase = c.Status.Phase;
        switch (phase)
        {
            case TrainingJobPhase.Succeeded:
                c.SetCondition(TrainingJobConditions.Ready, true, "Succeeded",
                    ConditionList.Find(c.Conditions, TrainingJobConditions.Complete)?.Message ?? "The job succeeded.");
                ConditionList.Remove(c.Conditions, TrainingJobConditions.Reconciling);
                ConditionList.Remove(c.Conditions, TrainingJobConditions.Stalled);
                break;
            case TrainingJobPhase.Failed or TrainingJobPhase.Stopped:
                var ended = ConditionList.Find(c.Conditions, phase == TrainingJobPhase.Failed ? TrainingJobConditions.Failed : TrainingJobConditions.Stopped);
                var reason = ended?.Reason ?? phase.ToString()!;
                var message = ended?.Message ?? $"The job {phase.ToString()!.ToLowerInvariant()}.";
                c.SetCondition(TrainingJobConditions.Ready, false, reason, message);
                c.SetCondition(TrainingJobConditions.Stalled, true, reason, message);
                ConditionList.Remove(c.Conditions, TrainingJobConditions.Reconciling);
                break;
            case TrainingJobPhase.Suspended:
                c.SetCondition(TrainingJobConditions.Ready, false, "Suspended", "The job is suspended (spec.suspend).");
                ConditionList.Remove(c.Conditions, TrainingJobConditions.Reconciling);
                ConditionList.Remove(c.Conditions, TrainingJobConditions.Stalled);
                break;
            default:
                var running = ConditionList.Find(c.Conditions, TrainingJobConditions.Running);
                var why = phase?.ToString() ?? "Pending";
                var text = running?.Message ?? "The job is starting.";
                c.SetCondition(TrainingJobConditions.Ready, false, why, text);
                c.SetCondition(TrainingJobConditions.Reconciling, true, why, text);
                ConditionList.Remove(c.Conditions, TrainingJobConditions.Stalled);
                break;
        }
    }
}
