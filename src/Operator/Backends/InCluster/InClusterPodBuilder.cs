using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Contract;
using k8s.Models;

namespace Ferry.Operator.Backends.InCluster;

/// <summary>
/// Builds the children of an InCluster TrainingJob — pure functions of the job and the operator's options:
/// a headless Service `&lt;job&gt;` and one Pod `&lt;job&gt;-&lt;index&gt;` per replica.
/// </summary>
/// <remarks>
/// Host names: pod i has hostname `algo-(i+1)` and subdomain `&lt;job&gt;`, so the headless Service publishes
/// `algo-(i+1).&lt;job&gt;.&lt;ns&gt;.svc.&lt;domain&gt;`. The pod's DNS search list gets `&lt;job&gt;.&lt;ns&gt;.svc.&lt;domain&gt;`
/// (dnsConfig, merged with the cluster defaults), so the bare SageMaker names in `SM_HOSTS` (`algo-1`, `algo-2`, …)
/// resolve inside every pod and the contract stays byte-identical to SageMaker's. `publishNotReadyAddresses`
/// publishes the records before readiness, which rendezvous needs.
/// Security: every pod passes the Pod Security `restricted` level (non-root, seccomp RuntimeDefault, no privilege
/// escalation, all capabilities dropped); the init container runs as the operator image's user, the training container
/// as the image's user or `spec.inCluster.securityContext`, and both share `/opt/ml` through the pod's fsGroup.
/// </remarks>
public static class InClusterPodBuilder
{
    public const string TrainingContainer = "train";
    public const string InitContainer = "ferry-init";
    public const string OptMlVolume = "opt-ml";
    public const string AgentVolume = "ferry-agent";
    public const string AgentMountPath = "/ferry/agent";
    public const string SharedMemoryVolume = "dshm";
    public const string SharedMemoryPath = "/dev/shm";

    /// <summary>UID and GID of the init container: the operator image's non-root user (its Dockerfile's `USER 65532:65532`).</summary>
    public const long AgentUser = 65532;
    public const string TerminationMessagePath = "/dev/termination-log";
    public const string GpuResource = "nvidia.com/gpu";

    /// <summary>Name of replica <paramref name="index"/>'s pod: `&lt;job&gt;-&lt;index&gt;` (reused by every attempt).</summary>
    public static string PodName(string job, int index) => $"{job}-{AgentJobMapping.Text(index)}";

    /// <summary>The headless Service that gives the replicas their DNS names.</summary>
    public static V1Service Service(TrainingJob job) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = new V1ObjectMeta
        {
            Name = job.Metadata.Name,
            NamespaceProperty = job.Metadata.NamespaceProperty,
            Labels = new Dictionary<string, string> { [TrainingJobLabels.JobName] = job.Metadata.Name },
            OwnerReferences = [Owner(job)],
        },
        Spec = new V1ServiceSpec
        {
            ClusterIP = "None",
            Selector = new Dictionary<string, string> { [TrainingJobLabels.JobName] = job.Metadata.Name },
            PublishNotReadyAddresses = true,
            Ports = [new V1ServicePort { Name = "rendezvous", Port = ContainerContract.DefaultMasterPort, Protocol = "TCP" }],
        },
    };

    /// <summary>The name of rank 0's live-metrics container port (what a NetworkPolicy can allow the operator to reach).</summary>
    public const string LiveMetricsPortName = "ferry-metrics";

    /// <summary>The environment both containers of replica <paramref name="index"/> of <paramref name="attempt"/> get: the contract plus the agent's settings.</summary>
    public static IReadOnlyList<V1EnvVar> Environment(TrainingJob job, int index, InClusterOptions options, int attempt = 1)
    {
        var agentJob = AgentJobMapping.FromTrainingJob(job);
        var replica = new ContractReplica(index, ContainerContract.DefaultRoot, ContainerContract.HostNames(agentJob.Replicas));
        var variables = ContainerContract.Environment(agentJob.ToContractJob(), replica)
            .Select(p => new V1EnvVar { Name = p.Key, Value = p.Value })
            .ToList();
        variables.Add(new V1EnvVar { Name = AgentJob.Variable, Value = agentJob.Serialize() });
        variables.Add(new V1EnvVar { Name = AgentSettings.ReplicaIndexVariable, Value = AgentJobMapping.Text(index) });
        variables.Add(new V1EnvVar { Name = AgentSettings.StopGraceVariable, Value = AgentJobMapping.Text((int)options.StopGracePeriod.TotalSeconds) });
        variables.Add(new V1EnvVar { Name = AgentSettings.CheckpointSyncVariable, Value = AgentJobMapping.Text((int)options.CheckpointSyncInterval.TotalSeconds) });
        variables.Add(new V1EnvVar { Name = AgentSettings.TerminationLogVariable, Value = TerminationMessagePath });
        variables.Add(new V1EnvVar { Name = AgentSettings.AttemptVariable, Value = AgentJobMapping.Text(attempt) });
        if (index == 0)
        {
            // Rank 0 serves its live metrics on its own address and answers with the job's and its own uid, which the
            // operator checks before it records anything (see LiveMetricsPoller).
            variables.Add(new V1EnvVar { Name = AgentSettings.JobUidVariable, Value = job.Metadata.Uid ?? "" });
            variables.Add(new V1EnvVar { Name = AgentSettings.MetricsPortVariable, Value = AgentJobMapping.Text(options.LiveMetricsPort) });
            variables.Add(new V1EnvVar { Name = AgentSettings.PodIpVariable, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } });
            variables.Add(new V1EnvVar { Name = AgentSettings.PodUidVariable, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.uid" } } });
        }

        foreach (var (name, value) in options.AgentEnvironment.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            variables.RemoveAll(v => v.Name == name);
            variables.Add(new V1EnvVar { Name = name, Value = value });
        }

        return variables;
    }

    /// <summary>The pod of replica <paramref name="index"/> in attempt <paramref name="attempt"/>.</summary>
    public static V1Pod Pod(TrainingJob job, int index, int attempt, InClusterOptions options)
    {
        var spec = job.Spec;
        var name = job.Metadata.Name;
        var ns = job.Metadata.NamespaceProperty;
        var inCluster = spec.InCluster;
        var environment = Environment(job, index, options, attempt).ToList();
        var mounts = new List<V1VolumeMount>
        {
            new() { Name = OptMlVolume, MountPath = ContainerContract.DefaultRoot },
            new() { Name = AgentVolume, MountPath = AgentMountPath },
        };
        var identity = inCluster?.SecurityContext;

        var nodeSelector = new Dictionary<string, string>(inCluster?.NodeSelector ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        var tolerations = new List<V1Toleration>(inCluster?.Tolerations ?? []);
        if (spec.Spot)
        {
            foreach (var (key, value) in options.SpotNodeSelector)
            {
                nodeSelector[key] = value;
            }

            tolerations.AddRange(options.SpotTolerations);
        }

        var agent = AgentMountPath + "/" + Path.GetFileName(options.AgentPath);
        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = PodName(name, index),
                NamespaceProperty = ns,
                Labels = new Dictionary<string, string>
                {
                    [TrainingJobLabels.JobName] = name,
                    [TrainingJobLabels.ReplicaIndex] = AgentJobMapping.Text(index),
                    [TrainingJobLabels.Attempt] = AgentJobMapping.Text(attempt),
                },
                OwnerReferences = [Owner(job)],
            },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                Hostname = ContainerContract.HostName(index),
                Subdomain = name,
                DnsConfig = new V1PodDNSConfig { Searches = [$"{name}.{ns}.svc.{options.ClusterDomain}"] },
                NodeSelector = nodeSelector.Count == 0 ? null : nodeSelector,
                Tolerations = tolerations.Count == 0 ? null : tolerations,
                PriorityClassName = inCluster?.PriorityClassName,
                SchedulerName = inCluster?.SchedulerName,
                ServiceAccountName = inCluster?.ServiceAccountName,
                ImagePullSecrets = inCluster?.ImagePullSecrets is { Count: > 0 } secrets
                    ? [.. secrets.Select(s => new V1LocalObjectReference { Name = s.Name })]
                    : null,
                SecurityContext = PodSecurity(identity),
                // The kubelet's grace must cover the agent's: SIGTERM → training grace → final uploads.
                TerminationGracePeriodSeconds = (long)options.StopGracePeriod.TotalSeconds + 30,
                Volumes =
                [
                    new V1Volume { Name = OptMlVolume, EmptyDir = new V1EmptyDirVolumeSource() },
                    new V1Volume { Name = AgentVolume, EmptyDir = new V1EmptyDirVolumeSource() },
                    new V1Volume { Name = SharedMemoryVolume, EmptyDir = SharedMemory(inCluster?.ShmSize) },
                ],
                InitContainers =
                [
                    new V1Container
                    {
                        Name = InitContainer,
                        Image = options.AgentImage,
                        Command = [options.AgentPath, "agent", "init", "--install-to", AgentMountPath],
                        Env = environment,
                        VolumeMounts = mounts,
                        SecurityContext = ContainerSecurity(AgentUser, AgentUser),
                        TerminationMessagePath = TerminationMessagePath,
                        TerminationMessagePolicy = "FallbackToLogsOnError",
                    },
                ],
                Containers =
                [
                    new V1Container
                    {
                        Name = TrainingContainer,
                        Image = spec.Image,
                        ImagePullPolicy = inCluster?.ImagePullPolicy?.ToString(),
                        Command = [agent, "agent", "exec", "--", .. AgentJobMapping.TrainingCommand(spec)],
                        Env = environment,
                        VolumeMounts = [.. mounts, new V1VolumeMount { Name = SharedMemoryVolume, MountPath = SharedMemoryPath }],
                        SecurityContext = ContainerSecurity(runAsUser: null, runAsGroup: null),
                        Resources = Resources(spec.Resources),
                        Ports = index == 0 ? [new V1ContainerPort { Name = LiveMetricsPortName, ContainerPort = options.LiveMetricsPort, Protocol = "TCP" }] : null,
                        TerminationMessagePath = TerminationMessagePath,
                        TerminationMessagePolicy = "File",
                    },
                ],
            },
        };
    }

    /// <summary>
    /// The pod's securityContext: what the Pod Security `restricted` level requires (non-root, seccomp RuntimeDefault),
    /// the user's identity for the training container, and an fsGroup that owns the shared volumes, so a training
    /// process with any UID can write `/opt/ml` (the agent makes it group-writable).
    /// </summary>
    public static V1PodSecurityContext PodSecurity(InClusterSecurityContext? identity) => new()
    {
        RunAsNonRoot = true,
        RunAsUser = identity?.RunAsUser,
        RunAsGroup = identity?.RunAsGroup,
        FsGroup = identity?.FsGroup ?? InClusterSecurityContext.DefaultFsGroup,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    /// <summary>A container's securityContext: no privilege escalation, every capability dropped; the init container pins its own user.</summary>
    public static V1SecurityContext ContainerSecurity(long? runAsUser, long? runAsGroup) => new()
    {
        RunAsNonRoot = true,
        RunAsUser = runAsUser,
        RunAsGroup = runAsGroup,
        AllowPrivilegeEscalation = false,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };

    /// <summary>`/dev/shm` in memory (a container runtime's default is 64 MiB, too small for NCCL and data loaders), limited by `shmSize` when set.</summary>
    public static V1EmptyDirVolumeSource SharedMemory(string? size) => new()
    {
        Medium = "Memory",
        SizeLimit = string.IsNullOrWhiteSpace(size) ? null : new ResourceQuantity(size),
    };

    /// <summary>Requests cpu/memory, limits memory and `nvidia.com/gpu` (GPUs are requested by their limit).</summary>
    public static V1ResourceRequirements? Resources(ResourceSpec? resources)
    {
        var requests = new Dictionary<string, ResourceQuantity>();
        var limits = new Dictionary<string, ResourceQuantity>();
        if (resources?.Cpu is { Length: > 0 } cpu)
        {
            requests["cpu"] = new ResourceQuantity(cpu);
        }

        if (resources?.Memory is { Length: > 0 } memory)
        {
            requests["memory"] = new ResourceQuantity(memory);
            limits["memory"] = new ResourceQuantity(memory);
        }

        if (resources?.GpusPerReplica is > 0 and var gpus)
        {
            limits[GpuResource] = new ResourceQuantity(AgentJobMapping.Text(gpus));
        }

        return requests.Count == 0 && limits.Count == 0
            ? null
            : new V1ResourceRequirements { Requests = requests.Count == 0 ? null : requests, Limits = limits.Count == 0 ? null : limits };
    }

    /// <summary>The controller owner reference to the TrainingJob (garbage collection, and `kubectl get pods` shows the owner).</summary>
    public static V1OwnerReference Owner(TrainingJob job) => new()
    {
        ApiVersion = TrainingJob.GroupVersion,
        Kind = TrainingJob.KubeKind,
        Name = job.Metadata.Name,
        Uid = job.Metadata.Uid,
        Controller = true,
        BlockOwnerDeletion = true,
    };
}
