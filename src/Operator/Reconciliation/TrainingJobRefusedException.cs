namespace Ferry.Operator.Reconciliation;

/// <summary>
/// A backend's terminal refusal: what the job asks for can never be created as it stands (the API server or the
/// platform rejected it, e.g. an unknown priority class or a quota the spec exceeds). The reconciler ends the job
/// Failed with <see cref="Reason"/> (InvalidSpec unless the backend names another) and this message instead of
/// retrying forever.
/// </summary>
public sealed class TrainingJobRefusedException(string message, Exception? inner = null, string? reason = null) : Exception(message, inner)
{
    /// <summary>The reason of the Failed condition, e.g. <c>InvalidSpec</c> or <c>NameConflict</c>.</summary>
    public string Reason { get; } = reason ?? TrainingJobStatusCalculator.Reasons.InvalidSpec;
}
