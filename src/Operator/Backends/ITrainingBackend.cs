using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Backends;

/// <summary>
/// Where a TrainingJob's replicas run (pods in the cluster, local processes). A backend owns "what is running":
/// it observes its children as <see cref="ReplicaObservation"/>s and carries out the actions the pure
/// <see cref="TrainingJobStatusCalculator"/> decides; it never decides status itself. Every method is idempotent.
/// </summary>
public interface ITrainingBackend
{
    /// <summary>The `spec.backend` value this backend serves.</summary>
    TrainingJobBackend Backend { get; }

    /// <summary>
    /// Whether a job's deletion must wait for <see cref="CleanUpAsync"/> (a finalizer): true when the backend holds
    /// something Kubernetes garbage collection cannot remove through owner references (processes, remote jobs).
    /// </summary>
    bool NeedsFinalizer { get; }

    /// <summary>
    /// Why this backend cannot run <paramref name="job"/> although the API accepted it (a message naming the field
    /// and the fix), or null. A non-null answer ends the job Failed with reason InvalidSpec; it is never retried.
    /// </summary>
    string? Validate(TrainingJob job);

    /// <summary>Every child replica of <paramref name="job"/> that exists now, of any attempt, including ones being deleted.</summary>
    Task<IReadOnlyList<ReplicaObservation>> ObserveAsync(TrainingJob job, CancellationToken cancellationToken);

    /// <summary>Creates the replicas <paramref name="start"/> names (and shared children such as a Service); existing ones are left alone.</summary>
    Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken);

    /// <summary>Deletes (stops) the given replicas; already-gone ones are fine.</summary>
    Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken);

    /// <summary>Finalizer step: deletes every child of <paramref name="job"/>. Idempotent.</summary>
    Task CleanUpAsync(TrainingJob job, CancellationToken cancellationToken);
}
