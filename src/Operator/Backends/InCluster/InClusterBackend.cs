using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Backends.InCluster;

/// <summary>
/// Runs a TrainingJob as pods in the cluster: one headless Service and one Pod per replica (see
/// <see cref="InClusterPodBuilder"/>), owned by the TrainingJob. Observes pods in the shared informer cache (indexed by
/// their controlling owner's uid, so a job's pods are found without a scan or an API request) and creates/deletes
/// them as the reconciler decides. What this backend created or deleted is overlaid on the cache until the watch
/// shows it, so a cache that has seen only part of a freshly created gang never makes a replica look vanished.
/// Kubernetes garbage collection removes the children of a deleted job (owner references), so no finalizer is needed.
/// </summary>
public sealed class InClusterBackend(
    IResourceClient<V1Pod> pods,
    IResourceClient<V1Service> services,
    IInformerCache<V1Pod> podCache,
    InClusterOptions options) : ITrainingBackend
{
    private readonly CacheOverlay<V1Pod> _pods = new(podCache, pod => CacheIndexes.ControllerOwnerUid(pod).FirstOrDefault());

    /// <inheritdoc />
    public TrainingJobBackend Backend => TrainingJobBackend.InCluster;

    /// <inheritdoc />
    public bool NeedsFinalizer => false;

    /// <inheritdoc />
    public string? Validate(TrainingJob job)
    {
        var spec = job.Spec;
        if (string.IsNullOrWhiteSpace(spec.Image))
        {
            return "spec.image is required for backend InCluster: set it to the training image.";
        }

        for (var i = 0; i < (spec.Inputs?.Count ?? 0); i++)
        {
            if (!spec.Inputs![i].Uri.StartsWith("s3://", StringComparison.Ordinal))
            {
                return $"spec.inputs[{i}].uri '{spec.Inputs[i].Uri}' is not an s3:// URI; pods in the cluster can only read s3:// inputs.";
            }
        }

        foreach (var (field, uri) in new[] { ("spec.output.uri", spec.Output?.Uri), ("spec.checkpoint.uri", spec.Checkpoint?.Uri) })
        {
            if (uri is { Length: > 0 } && !uri.StartsWith("s3://", StringComparison.Ordinal))
            {
                return $"{field} '{uri}' is not an s3:// URI; pods in the cluster can only write to s3://.";
            }
        }

        foreach (var (field, quantity) in new[] { ("spec.resources.cpu", spec.Resources?.Cpu), ("spec.resources.memory", spec.Resources?.Memory) })
        {
            if (quantity is { Length: > 0 })
            {
                try
                {
                    _ = new ResourceQuantity(quantity).ToDecimal();
                }
                catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
                {
                    return $"{field} '{quantity}' is not a Kubernetes quantity; write it like 4, 500m or 16Gi.";
                }
            }
        }

        if (spec.Spot && options.SpotNodeSelector.Count == 0 && options.SpotTolerations.Count == 0)
        {
            return "spec.spot is true, but this operator has no spot placement configured for in-cluster jobs (inCluster.spot.nodeSelector / tolerations in the Helm values). Set spec.spot: false or ask the platform team to configure spot placement.";
        }

        return null;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ReplicaObservation>> ObserveAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var uid = job.Metadata.Uid;
        var cached = _pods.Cache.ByIndex(CacheIndexes.ByControllerOwnerUid, uid);
        IReadOnlyList<ReplicaObservation> observed = [.. _pods.Apply(cached, uid)
            .Where(p => p.Object.Metadata.Labels is { } labels
                && labels.TryGetValue(TrainingJobLabels.JobName, out var jobName) && jobName == job.Metadata.Name)
            .Select(p => Observe(p.Object) is { } replica ? replica with { Terminating = replica.Terminating || p.DeletePending } : null)
            .OfType<ReplicaObservation>()
            .OrderBy(r => r.Index)];
        return Task.FromResult(observed);
    }

    /// <inheritdoc />
    public async Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken)
    {
        var ns = job.Metadata.NamespaceProperty;
        // The Service is not cached (it is created once per attempt and never read back), so a restart's create
        // answers 409, which is fine.
        var creates = new List<Task>(start.Indexes.Count + 1)
        {
            CreateIfMissingAsync(() => services.CreateAsync(InClusterPodBuilder.Service(job), cancellationToken)),
        };

        foreach (var index in start.Indexes)
        {
            creates.Add(CreateIfMissingAsync(async () => _pods.Written(await pods.CreateAsync(InClusterPodBuilder.Pod(job, index, start.Attempt, options), cancellationToken))));
        }

        await Task.WhenAll(creates);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken)
    {
        var ns = job.Metadata.NamespaceProperty;
        await Task.WhenAll(replicas.Select(async replica =>
        {
            var current = _pods.Get(ns, replica.Name);
            if (await pods.DeleteAsync(ns, replica.Name, null, cancellationToken) && current is not null)
            {
                _pods.Deleted(current);
            }
        }));
    }

    /// <inheritdoc />
    public async Task CleanUpAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var observed = await ObserveAsync(job, cancellationToken);
        await DeleteAsync(job, [.. observed.Where(r => !r.Terminating)], cancellationToken);
        var service = await services.GetAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, cancellationToken);
        if (service is not null && IsOwnedBy(service, job.Metadata.Uid))
        {
            await services.DeleteAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, null, cancellationToken);
        }
    }

    /// <summary>
    /// What the operator's pod cache keeps: the metadata and the parts of the status that <see cref="Observe"/> reads.
    /// The spec (containers, environment, volumes), annotations, conditions and container details are most of a pod's
    /// size and are never read back; with tens of thousands of pods cached they would be most of the operator's memory.
    /// </summary>
    public static void TrimCachedPod(V1Pod pod)
    {
        pod.Spec = null;
        pod.Metadata.Annotations = null;
        if (pod.Status is { } status)
        {
            pod.Status = new V1PodStatus
            {
                Phase = status.Phase,
                Reason = status.Reason,
                Message = status.Message,
                ContainerStatuses = TrimContainers(status.ContainerStatuses, InClusterPodBuilder.TrainingContainer),
                InitContainerStatuses = TrimContainers(status.InitContainerStatuses, InClusterPodBuilder.InitContainer),
            };
        }
    }

    private static List<V1ContainerStatus>? TrimContainers(IList<V1ContainerStatus>? statuses, string name) =>
        statuses?.Where(c => c.Name == name).Select(c => new V1ContainerStatus
        {
            Name = c.Name,
            State = c.State is null ? null : new V1ContainerState
            {
                Running = c.State.Running is null ? null : new V1ContainerStateRunning { StartedAt = c.State.Running.StartedAt },
                Terminated = c.State.Terminated is not { } t ? null : new V1ContainerStateTerminated
                {
                    ExitCode = t.ExitCode,
                    Message = t.Message,
                    Reason = t.Reason,
                    StartedAt = t.StartedAt,
                },
            },
        }).ToList();

    private static bool IsOwnedBy(IKubernetesObject<V1ObjectMeta> obj, string uid) =>
        obj.Metadata.OwnerReferences?.Any(o => o.Uid == uid) == true;

    /// <summary>A pod as a replica observation; null for a pod without Ferry's labels.</summary>
    public static ReplicaObservation? Observe(V1Pod pod)
    {
        var labels = pod.Metadata.Labels;
        if (labels is null
            || !labels.TryGetValue(TrainingJobLabels.ReplicaIndex, out var indexText)
            || !labels.TryGetValue(TrainingJobLabels.Attempt, out var attemptText)
            || !int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(attemptText, NumberStyles.None, CultureInfo.InvariantCulture, out var attempt))
        {
            return null;
        }

        var status = pod.Status;
        var state = status?.Phase switch
        {
            "Running" => ReplicaState.Running,
            "Succeeded" => ReplicaState.Succeeded,
            "Failed" => ReplicaState.Failed,
            _ => ReplicaState.Pending,
        };
        var train = status?.ContainerStatuses?.FirstOrDefault(c => c.Name == InClusterPodBuilder.TrainingContainer);
        var init = status?.InitContainerStatuses?.FirstOrDefault(c => c.Name == InClusterPodBuilder.InitContainer);
        var terminated = train?.State?.Terminated;
        var startedAt = train?.State?.Running?.StartedAt ?? terminated?.StartedAt;
        var message = terminated?.Message;
        int? exitCode = terminated?.ExitCode;
        if (state == ReplicaState.Failed && terminated is null)
        {
            if (init?.State?.Terminated is { ExitCode: not 0 } initFailed)
            {
                exitCode = initFailed.ExitCode;
                message = $"The {InClusterPodBuilder.InitContainer} init container (inputs, checkpoints) failed with exit code {initFailed.ExitCode}: {initFailed.Message ?? initFailed.Reason}";
            }
            else
            {
                message = $"The pod failed ({status?.Reason ?? "no reason"}): {status?.Message ?? "no message"}";
            }
        }

        return new ReplicaObservation(
            pod.Metadata.Name,
            index,
            attempt,
            state,
            Terminating: pod.Metadata.DeletionTimestamp is not null,
            StartedAt: startedAt,
            ExitCode: exitCode,
            Message: message);
    }

    private static async Task CreateIfMissingAsync(Func<Task> create)
    {
        try
        {
            await create();
        }
        catch (KubernetesApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            // Already exists (created by an earlier pass whose status write did not land): the watch brings it.
        }
        catch (KubernetesApiException e) when (e.StatusCode is System.Net.HttpStatusCode.UnprocessableEntity or System.Net.HttpStatusCode.BadRequest)
        {
            // An invalid object stays invalid: retrying cannot succeed. (403, e.g. an exhausted quota, is retried with backoff.)
            throw new TrainingJobRefusedException(
                $"The Kubernetes API refused the job's pod or Service as invalid: {e.Status?.Message ?? e.Message}. Fix spec.inCluster or spec.resources and re-create the TrainingJob.", e);
        }
    }
}
