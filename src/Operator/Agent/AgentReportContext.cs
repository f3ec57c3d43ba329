using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Agent;

/// <summary>
/// What the training report shows beyond what the agent sees itself: the backend, the image, the experiment and the
/// rules of spec.rules (evaluated over rank 0's metric history when the report is written).
/// </summary>
public sealed record AgentReportContext(
    string Backend,
    string? Image = null,
    string? Experiment = null,
    string? Trial = null,
    IReadOnlyList<TrainingRule>? Rules = null);
