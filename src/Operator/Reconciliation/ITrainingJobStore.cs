using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Where TrainingJobs live: the Kubernetes API in the cluster (<see cref="KubernetesTrainingJobStore"/>), memory for
/// `ferry run` (<see cref="InMemoryTrainingJobStore"/>). The reconciler reads and writes jobs only through it.
/// </summary>
public interface ITrainingJobStore
{
    /// <summary>The job, or null when it does not exist.</summary>
    Task<TrainingJob?> GetAsync(string ns, string name, CancellationToken cancellationToken);

    /// <summary>Adds the finalizer <paramref name="finalizer"/> (no-op when present); returns the stored job.</summary>
    Task<TrainingJob> AddFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken);

    /// <summary>Removes the finalizer (no-op when absent); with a deletion pending this lets the job go.</summary>
    Task RemoveFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken);

    /// <summary>
    /// Sets the labels with a value and removes those mapped to null (the experiment labels the operator keeps from
    /// spec.experiment); returns the stored job. Stores without labels (memory) keep the job as it is.
    /// </summary>
    Task<TrainingJob> SetLabelsAsync(TrainingJob job, IReadOnlyDictionary<string, string?> labels, CancellationToken cancellationToken) =>
        Task.FromResult(job);

    /// <summary>Writes <paramref name="status"/> (the status subresource); returns the stored job.</summary>
    Task<TrainingJob> WriteStatusAsync(TrainingJob job, TrainingJobStatus status, CancellationToken cancellationToken);

    /// <summary>Deletes the job (after its TTL); a job already gone is fine.</summary>
    Task DeleteAsync(TrainingJob job, CancellationToken cancellationToken);
}

/// <summary>Records Kubernetes Events (or the Local equivalent: a log line) for a job's transitions.</summary>
public interface ITrainingJobEventSink
{
    /// <summary>Records <paramref name="trainingEvent"/> about <paramref name="job"/>; failures are logged, never thrown.</summary>
    Task RecordAsync(TrainingJob job, TrainingJobEvent trainingEvent, CancellationToken cancellationToken);
}
