using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Insight.Lineage;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Storage;
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
    InClusterOptions options,
    IInformerCache<V1Service>? serviceCache = null,
    LiveMetricsPoller? liveMetrics = null) : ITrainingBackend
{
    private readonly WriteExpectations<V1Pod> _pods = new(podCache, pod => CacheIndexes.ControllerOwnerUid(pod).FirstOrDefault());

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
    public async Task<BackendObservation> ObserveAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var uid = job.Metadata.Uid;
        var cached = _pods.Cache.ByIndex(CacheIndexes.ByControllerOwnerUid, uid);
        var pods = _pods.Apply(cached, uid)
            .Where(p => p.Object.Metadata.Labels is { } labels
                && labels.TryGetValue(TrainingJobLabels.JobName, out var jobName) && jobName == job.Metadata.Name)
            .Select(p => (Pod: p.Object, Replica: Observe(p.Object) is { } replica ? replica with { Terminating = replica.Terminating || p.DeletePending } : null))
            .Where(p => p.Replica is not null)
            .OrderBy(p => p.Replica!.Index)
            .ToList();
        IReadOnlyList<ReplicaObservation> observed = [.. pods.Select(p => p.Replica!)];
        TimeSpan? pollAfter = null;
        if (liveMetrics is not null)
        {
            var attempt = Math.Max(job.Status?.Attempt ?? 1, 1);
            var rank0 = pods.FirstOrDefault(p => p.Replica!.Index == 0 && p.Replica.Attempt == attempt && p.Replica.State == ReplicaState.Running && !p.Replica.Terminating);
            if (rank0.Pod is null || job.Status?.Phase is not (TrainingJobPhase.Starting or TrainingJobPhase.Running))
            {
                liveMetrics.Forget(uid);
            }
            else
            {
                var (report, after) = await liveMetrics.ReportAsync(job, rank0.Pod, cancellationToken);
                pollAfter = after;
                if (report is not null)
                {
                    observed = [.. observed.Select(r => ReferenceEquals(r, rank0.Replica) ? r with { Live = report } : r)];
                }
            }
        }

        return new BackendObservation(observed, Artifacts: ArtifactLocations.For(job), PollAfter: pollAfter);
    }

    /// <inheritdoc />
    public async Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken)
    {
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

    /// <summary>
    /// Re-creates the job's headless Service when it is missing while the job's pods exist (someone deleted it): the
    /// replicas find each other through it. Seen through the Service cache, so a settled job costs no request.
    /// </summary>
    public async Task RepairAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        if (serviceCache is null || serviceCache.TryGet(job.Metadata.NamespaceProperty, job.Metadata.Name, out _)
            || _pods.Cache.ByIndex(CacheIndexes.ByControllerOwnerUid, job.Metadata.Uid).Count == 0)
        {
            return;
        }

        await CreateIfMissingAsync(() => services.CreateAsync(InClusterPodBuilder.Service(job), cancellationToken));
    }

    /// <inheritdoc />
    public async Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken)
    {
        var ns = job.Metadata.NamespaceProperty;
        await Task.WhenAll(replicas.Select(async replica =>
        {
            var current = _pods.Get(ns, replica.Name);
            // Pod names are reused by later attempts: the uid precondition makes sure this deletes the pod observed.
            var options = replica.Uid is { } uid ? new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = uid } } : null;
            try
            {
                if (await pods.DeleteAsync(ns, replica.Name, options, cancellationToken) && current is not null)
                {
                    _pods.Deleted(current);
                }
            }
            catch (KubernetesApiException e) when (e.IsConflict && options is not null)
            {
                // A newer pod of the same name exists: the one observed is already gone.
            }
        }));
    }

    /// <inheritdoc />
    public async Task<TimeSpan?> CleanUpAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        liveMetrics?.Forget(job.Metadata.Uid);
        var observed = await ObserveAsync(job, cancellationToken);
        await DeleteAsync(job, [.. observed.Replicas.Where(r => !r.Terminating)], cancellationToken);
        var service = await services.GetAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, cancellationToken);
        if (service is not null && IsOwnedBy(service, job.Metadata.Uid))
        {
            await services.DeleteAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, null, cancellationToken);
        }

        return null;
    }

    /// <summary>
    /// What the operator's pod cache keeps: the metadata and the parts of the status that <see cref="Observe"/> reads.
    /// The spec (containers, environment, volumes), annotations and most container details are most of a pod's size
    /// and are never read back; with tens of thousands of pods cached they would be most of the operator's memory.
    /// Kept: phase and reason, the pod IP (rank 0's live metrics are polled there), the node, the conditions that explain a disruption or a pod that cannot be scheduled, and
    /// each container's waiting reason (why it cannot start) and termination (for the post-mortem).
    /// </summary>
    public static void TrimCachedPod(V1Pod pod)
    {
        pod.Spec = pod.Spec?.NodeName is { } node ? new V1PodSpec { NodeName = node } : null;
        pod.Metadata.Annotations = null;
        if (pod.Status is { } status)
        {
            var conditions = status.Conditions?
                .Where(c => (c.Type == DisruptionTarget && c.Status == "True") || (c.Type == "PodScheduled" && c.Status == "False"))
                .Select(c => new V1PodCondition { Type = c.Type, Status = c.Status, Reason = c.Reason, Message = c.Message })
                .ToList();
            pod.Status = new V1PodStatus
            {
                Phase = status.Phase,
                PodIP = status.PodIP,
                Reason = status.Reason,
                Message = status.Message,
                Conditions = conditions is { Count: > 0 } ? conditions : null,
                ContainerStatuses = TrimContainers(status.ContainerStatuses, InClusterPodBuilder.TrainingContainer),
                InitContainerStatuses = TrimContainers(status.InitContainerStatuses, InClusterPodBuilder.InitContainer),
            };
        }
    }

    /// <summary>The pod condition the API server, the scheduler and the kubelet set before they disrupt a pod.</summary>
    public const string DisruptionTarget = "DisruptionTarget";

    private static List<V1ContainerStatus>? TrimContainers(IList<V1ContainerStatus>? statuses, string name) =>
        statuses?.Where(c => c.Name == name).Select(c => new V1ContainerStatus
        {
            Name = c.Name,
            ImageID = ImageDigests.Of(c.ImageID) is not null ? c.ImageID : null,
            State = c.State is null ? null : new V1ContainerState
            {
                Running = c.State.Running is null ? null : new V1ContainerStateRunning { StartedAt = c.State.Running.StartedAt },
                Waiting = c.State.Waiting is not { Reason: { } reason } w || !BlockingWaits.ContainsKey(reason) ? null
                    : new V1ContainerStateWaiting { Reason = w.Reason, Message = w.Message },
                Terminated = c.State.Terminated is not { } t ? null : new V1ContainerStateTerminated
                {
                    ExitCode = t.ExitCode,
                    Message = t.Message,
                    Reason = t.Reason,
                    Signal = t.Signal,
                    StartedAt = t.StartedAt,
                    FinishedAt = t.FinishedAt,
                },
            },
        }).ToList();

    /// <summary>Waiting reasons that stop a container from ever starting until someone fixes something, with the fix.</summary>
    private static readonly Dictionary<string, string> BlockingWaits = new(StringComparer.Ordinal)
    {
        ["ImagePullBackOff"] = "check spec.image (name, tag, registry) and spec.inCluster.imagePullSecrets",
        ["ErrImagePull"] = "check spec.image (name, tag, registry) and spec.inCluster.imagePullSecrets",
        ["InvalidImageName"] = "fix spec.image",
        ["CreateContainerConfigError"] = "an image that runs as root needs spec.inCluster.securityContext.runAsUser (pods run as non-root), or a Secret or ConfigMap the pod refers to is missing",
        ["CreateContainerError"] = "the container runtime could not create the container; see `kubectl describe pod`",
        ["CrashLoopBackOff"] = "the container keeps exiting; see its logs",
    };

    private static bool IsOwnedBy(IKubernetesObject<V1ObjectMeta> obj, string uid) =>
        obj.Metadata.OwnerReferences?.Any(o => o.Uid == uid) == true;

    /// <summary>A pod as a replica observation (the agent's termination message parsed); null for a pod without Ferry's labels.</summary>
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
        string? failure = null;
        if (state == ReplicaState.Failed && terminated is null)
        {
            if (init?.State?.Terminated is { ExitCode: not 0 } initFailed)
            {
                exitCode = initFailed.ExitCode;
                failure = $"The {InClusterPodBuilder.InitContainer} init container (inputs, checkpoints) failed with exit code {initFailed.ExitCode}: {initFailed.Message ?? initFailed.Reason}";
            }
            else
            {
                failure = $"The pod failed ({status?.Reason ?? "no reason"}): {status?.Message ?? "no message"}";
            }
        }

        var disruption = Disruption(status);
        var replica = new ReplicaObservation(
            pod.Metadata.Name,
            index,
            attempt,
            state,
            Terminating: pod.Metadata.DeletionTimestamp is not null,
            StartedAt: startedAt,
            ExitCode: exitCode,
            FailureReason: failure,
            Disruption: disruption,
            Blocked: state == ReplicaState.Pending ? Blocked(status, init, train) : null,
            Uid: pod.Metadata.Uid)
        {
            Node = pod.Spec?.NodeName,
            FinishedAt = terminated?.FinishedAt ?? init?.State?.Terminated?.FinishedAt,
            Cause = Cause(terminated, disruption),
            ImageDigest = ImageDigests.Of(train?.ImageID),
        };
        return message is null ? replica : replica.WithTerminationMessage(message);
    }

    /// <summary>The kubelet's verdict in one word: the OOM killer, or the kind of disruption; null for a plain error exit.</summary>
    private static string? Cause(V1ContainerStateTerminated? terminated, string? disruption)
    {
        if (terminated?.Reason == "OOMKilled")
        {
            return "OOMKilled";
        }

        if (disruption is null)
        {
            return null;
        }

        return disruption.Contains("Preempt", StringComparison.OrdinalIgnoreCase) ? "Preempted"
            : disruption.Contains("Evict", StringComparison.OrdinalIgnoreCase) ? "Evicted"
            : "Disrupted";
    }

    /// <summary>Why the pod was disrupted: its DisruptionTarget condition, or the kubelet's eviction and shutdown reasons.</summary>
    private static string? Disruption(V1PodStatus? status)
    {
        if (status?.Conditions?.FirstOrDefault(c => c.Type == DisruptionTarget && c.Status == "True") is { } target)
        {
            return $"{target.Reason}: {target.Message}".TrimEnd(' ', ':');
        }

        return status?.Reason is "Evicted" or "Preempting" or "Shutdown" or "NodeShutdown" or "Terminated" or "NodeLost"
            ? $"{status.Reason}: {status.Message}".TrimEnd(' ', ':')
            : null;
    }

    /// <summary>What keeps a pending pod from starting, with the fix: a container waiting for good, or the scheduler.</summary>
    private static string? Blocked(V1PodStatus? status, V1ContainerStatus? init, V1ContainerStatus? train)
    {
        foreach (var waiting in new[] { init?.State?.Waiting, train?.State?.Waiting })
        {
            if (waiting?.Reason is { } reason && BlockingWaits.TryGetValue(reason, out var fix))
            {
                return $"{reason}: {waiting.Message ?? "no message"} ({fix}).";
            }
        }

        if (status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled" && c.Status == "False" && c.Reason == "Unschedulable") is { } unschedulable)
        {
            return $"Unschedulable: {unschedulable.Message ?? "no node fits"} (check spec.resources, spec.inCluster.nodeSelector and tolerations, and the cluster's free GPUs).";
        }

        return null;
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
        catch (KubernetesApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Forbidden)
        {
            // A quota, a LimitRange or Pod Security admission refused the pod: it may pass later (quota freed), so the
            // attempt keeps trying until the start-up deadline, with the reason in status.
            throw new StartBlockedException(
                $"The Kubernetes API refused to create the job's pod or Service: {e.Status?.Message ?? e.Message}. Free the namespace's quota, or fix spec.resources or spec.inCluster (security context) to fit its policies.", e);
        }
        catch (KubernetesApiException e) when (e.StatusCode is System.Net.HttpStatusCode.UnprocessableEntity or System.Net.HttpStatusCode.BadRequest)
        {
            // An invalid object stays invalid: retrying cannot succeed. (403, e.g. an exhausted quota, is retried with backoff.)
            throw new TrainingJobRefusedException(
                $"The Kubernetes API refused the job's pod or Service as invalid: {e.Status?.Message ?? e.Message}. Fix spec.inCluster or spec.resources and re-create the TrainingJob.", e);
        }
    }
}
