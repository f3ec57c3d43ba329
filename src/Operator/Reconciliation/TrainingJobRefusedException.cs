namespace Ferry.Operator.Reconciliation;

/// <summary>
/// A backend's terminal refusal: what the job asks for can never be created as it stands (the API server or the
/// platform rejected it, e.g. an unknown priority class or a quota the spec exceeds). The reconciler ends the job
/// Failed with reason InvalidSpec and this message instead of retrying forever.
/// </summary>
public sealed class TrainingJobRefusedException(string message, Exception? inner = null) : Exception(message, inner);
