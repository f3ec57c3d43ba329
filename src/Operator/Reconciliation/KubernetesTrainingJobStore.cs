using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Runtime.Finalizers;
using Ferry.Operator.Runtime.Resources;
using k8s;

namespace Ferry.Operator.Reconciliation;

/// <summary>TrainingJobs in the Kubernetes API, through the runtime's resource client.</summary>
public sealed class KubernetesTrainingJobStore(IResourceClient<TrainingJob> client) : ITrainingJobStore
{
    /// <inheritdoc />
    public Task<TrainingJob?> GetAsync(string ns, string name, CancellationToken cancellationToken) =>
        client.GetAsync(ns, name, cancellationToken);

    /// <inheritdoc />
    public Task<TrainingJob> AddFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken) =>
        Finalizers.EnsureAsync(client, job, finalizer, cancellationToken);

    /// <inheritdoc />
    public Task RemoveFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken) =>
        Finalizers.RemoveAsync(client, job, finalizer, cancellationToken);

    /// <inheritdoc />
    public Task<TrainingJob> WriteStatusAsync(TrainingJob job, TrainingJobStatus status, CancellationToken cancellationToken)
    {
        // Replace the status subresource guarded by the resourceVersion read: a concurrent change answers 409 and the
        // next reconcile recomputes from fresh state instead of overwriting it.
        var copy = KubernetesJson.Deserialize<TrainingJob>(KubernetesJson.Serialize(job));
        copy.Status = status;
        return client.ReplaceStatusAsync(copy, cancellationToken);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(TrainingJob job, CancellationToken cancellationToken) =>
        await client.DeleteAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, null, cancellationToken);
}
