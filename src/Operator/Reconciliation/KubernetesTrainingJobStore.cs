using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Runtime.Finalizers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// TrainingJobs in the Kubernetes API: read from the shared informer cache (no API request per reconcile), written
/// through the runtime's resource client. Writes are remembered in a <see cref="WriteExpectations{T}"/> until the cache
/// shows them, so a reconcile that runs before the watch caught up starts from what this operator last wrote.
/// </summary>
public sealed class KubernetesTrainingJobStore(IResourceClient<TrainingJob> client, IInformerCache<TrainingJob> cache) : ITrainingJobStore
{
    private readonly WriteExpectations<TrainingJob> _jobs = new(cache);

    /// <inheritdoc />
    public Task<TrainingJob?> GetAsync(string ns, string name, CancellationToken cancellationToken) =>
        Task.FromResult(_jobs.Get(ns, name));

    /// <inheritdoc />
    public async Task<TrainingJob> AddFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken)
    {
        var stored = await Finalizers.EnsureAsync(client, job, finalizer, cancellationToken);
        if (!ReferenceEquals(stored, job))
        {
            _jobs.Written(stored, job);
        }

        return stored;
    }

    /// <inheritdoc />
    public async Task RemoveFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken)
    {
        var stored = await Finalizers.RemoveAsync(client, job, finalizer, cancellationToken);
        if (!ReferenceEquals(stored, job))
        {
            _jobs.Written(stored, job);
        }
    }

    /// <inheritdoc />
    public async Task<TrainingJob> SetLabelsAsync(TrainingJob job, IReadOnlyDictionary<string, string?> labels, CancellationToken cancellationToken)
    {
        // A merge patch guarded by the resourceVersion read, as for finalizers: a concurrent change answers 409.
        var body = System.Text.Json.JsonSerializer.Serialize(new { metadata = new { resourceVersion = job.Metadata.ResourceVersion, labels } });
        var stored = await client.PatchAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, new V1Patch(body, V1Patch.PatchType.MergePatch), cancellationToken);
        _jobs.Written(stored, job);
        return stored;
    }

    /// <inheritdoc />
    public async Task<TrainingJob> WriteStatusAsync(TrainingJob job, TrainingJobStatus status, CancellationToken cancellationToken)
    {
        // Replace the status subresource guarded by the resourceVersion read: a concurrent change answers 409 and the
        // next reconcile recomputes from fresh state instead of overwriting it. The cached object is shared, so the
        // write goes out on a new object that refers to its (unchanged) metadata and spec.
        var update = new TrainingJob
        {
            ApiVersion = job.ApiVersion,
            Kind = job.Kind,
            Metadata = job.Metadata,
            Spec = job.Spec,
            Status = status,
        };
        var stored = await client.ReplaceStatusAsync(update, cancellationToken);
        _jobs.Written(stored, job);
        return stored;
    }

    /// <inheritdoc />
    public async Task DeleteAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        await client.DeleteAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, null, cancellationToken);
        _jobs.Deleted(job);
    }
}
