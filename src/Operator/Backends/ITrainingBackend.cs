using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Backends;

/// <summary>
/// Where a TrainingJob runs (pods in the cluster, local processes, a remote service's jobs). A backend owns "what is
/// running": it observes what it runs — as replicas (<see cref="ReplicaObservation"/>) or as one remote job per
/// attempt (<see cref="RemoteJobObservation"/>), parsing its own formats — and carries out the actions the pure
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

    /// <summary>The shape of what this backend runs (replicas, or a remote job per attempt) and the deadlines it enforces.</summary>
    BackendTraits Traits => BackendTraits.Replicas;

    /// <summary>
    /// Why this backend cannot start <paramref name="job"/> although the API accepted it (a message naming the field
    /// and the fix), or null. Asked only before an attempt starts: a non-null answer then ends the job Failed with
    /// reason InvalidSpec. A job that already runs is never failed by it (the operator's settings may have changed).
    /// </summary>
    string? Validate(TrainingJob job);

    /// <summary>
    /// <see cref="Validate"/> with the reason to record (the Failed condition's reason): InvalidSpec unless the backend
    /// names a more precise one (e.g. SageMaker's RoleNotAllowed). Asked at the same moments as <see cref="Validate"/>.
    /// </summary>
    BackendRefusal? Refuse(TrainingJob job) =>
        Validate(job) is { } message ? new BackendRefusal(TrainingJobStatusCalculator.Reasons.InvalidSpec, message) : null;

    /// <summary>
    /// Whether a remote job of <paramref name="job"/>, which has ended (Succeeded, Failed, Stopped), may still run: its
    /// status recorded the remote job as running when the end was decided (a training rule stopped it). Such a job is
    /// observed until the remote job ends, so the stop the status recorded is carried out; other ended jobs are not.
    /// </summary>
    bool MayRunAfterEnd(TrainingJob job) => false;

    /// <summary>Everything of <paramref name="job"/> that exists now, of any attempt, including what is going away.</summary>
    Task<BackendObservation> ObserveAsync(TrainingJob job, CancellationToken cancellationToken);

    /// <summary>
    /// Creates what <paramref name="start"/> names (and shared children such as a Service); existing ones are left
    /// alone. Throws <see cref="TrainingJobRefusedException"/> when the spec can never run, and
    /// <see cref="StartBlockedException"/> when the cluster refuses for now (a quota, a policy).
    /// </summary>
    Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken);

    /// <summary>
    /// Re-creates shared children of a running job that someone deleted (create-or-repair; e.g. the headless Service
    /// the replicas find each other through). Never touches what exists.
    /// </summary>
    Task RepairAsync(TrainingJob job, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Deletes (stops) the given replicas or remote jobs; already-gone ones are fine.</summary>
    Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken);

    /// <summary>
    /// Finalizer step: stops and deletes everything of <paramref name="job"/>. Idempotent; returns null when clean-up is
    /// complete (the finalizer may go), or how long to wait before looking again (a remote job still stopping).
    /// </summary>
    Task<TimeSpan?> CleanUpAsync(TrainingJob job, CancellationToken cancellationToken);
}

/// <summary>What a backend observed of one job.</summary>
/// <param name="Replicas">Replicas of any attempt (replica backends).</param>
/// <param name="RemoteJobs">Remote jobs of any attempt, one per attempt (remote-job backends).</param>
/// <param name="Artifacts">Where the backend puts the job's outputs (`model`: where the model lands on success), or null.</param>
/// <param name="PollAfter">Look again after this delay even if nothing in the cluster changes (a remote job is polled), or null.</param>
public sealed record BackendObservation(
    IReadOnlyList<ReplicaObservation> Replicas,
    IReadOnlyList<RemoteJobObservation>? RemoteJobs = null,
    ArtifactsStatus? Artifacts = null,
    TimeSpan? PollAfter = null);

/// <summary>Why a backend will not start a job: the Failed condition's reason and a message naming the field and the fix.</summary>
public sealed record BackendRefusal(string Reason, string Message);

/// <summary>The backend could not create an attempt's children for now (e.g. a quota or Pod Security refusal); the message says what to fix.</summary>
public sealed class StartBlockedException(string message, Exception? inner = null) : Exception(message, inner);
