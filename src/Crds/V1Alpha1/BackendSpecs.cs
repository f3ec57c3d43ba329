using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;
using k8s.Models;

namespace Ferry.Crds.V1Alpha1;

/// <summary>Settings only the SageMaker backend uses.</summary>
[Description("SageMakerSpec holds the settings only the SageMaker backend uses.")]
public sealed class SageMakerSpec
{
    [JsonPropertyName("roleArn")]
    [Length(Min = 20, Max = 2048)]
    [Pattern(@"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")]
    [Description("RoleArn is the IAM role SageMaker assumes for the job. Required for backend SageMaker; the operator only passes roles its allowlist permits for the namespace.")]
    public string? RoleArn { get; set; }

    [JsonPropertyName("region")]
    [Length(Max = 32)]
    [Pattern("^[a-z]{2}(-[a-z]+)+-[0-9]+$")]
    [Description("Region of the training job, e.g. eu-west-1; defaults to the operator's region.")]
    public string? Region { get; set; }

    [JsonPropertyName("vpc")]
    [Description("Vpc runs the job's instances in your VPC.")]
    public VpcSpec? Vpc { get; set; }

    [JsonPropertyName("kmsKeyId")]
    [Length(Max = 2048)]
    [Pattern(@"^[a-zA-Z0-9:/_\-]*$")]
    [Description("KmsKeyId encrypts the model artifacts SageMaker uploads (OutputDataConfig.KmsKeyId).")]
    public string? KmsKeyId { get; set; }

    [JsonPropertyName("volumeKmsKeyId")]
    [Length(Max = 2048)]
    [Pattern(@"^[a-zA-Z0-9:/_\-]*$")]
    [Description("VolumeKmsKeyId encrypts the instances' storage volumes (ResourceConfig.VolumeKmsKeyId).")]
    public string? VolumeKmsKeyId { get; set; }

    [JsonPropertyName("tags")]
    [MaxProperties(50)]
    [Length(Max = 256)]
    [CelRule("self.all(k, size(k) >= 1 && size(k) <= 128 && !k.startsWith('aws:'))",
        Message = "spec.sageMaker.tags keys must be 1-128 characters and must not start with aws: (reserved by AWS): rename the tag")]
    [Description("Tags are added to the SageMaker training job (at most 50; keys up to 128, values up to 256 characters). The operator adds its own ferry.dev tags, including the resource UID.")]
    public IDictionary<string, string>? Tags { get; set; }

    [JsonPropertyName("networkIsolation")]
    [Default(false)]
    [Description("NetworkIsolation cuts the training container off the network (EnableNetworkIsolation).")]
    public bool NetworkIsolation { get; set; }

    [JsonPropertyName("enableInterContainerTrafficEncryption")]
    [Default(false)]
    [Description("EnableInterContainerTrafficEncryption encrypts traffic between the job's instances.")]
    public bool EnableInterContainerTrafficEncryption { get; set; }

    [JsonPropertyName("retryStrategy")]
    [Description("RetryStrategy lets SageMaker itself restart the job, inside the same training job, after an internal SageMaker error (InternalServerError, capacity); it never retries an error of the training code. spec.maxRetries is Ferry's: a new SageMaker job per attempt after any failure, resumed from spec.checkpoint.")]
    public SageMakerRetryStrategy? RetryStrategy { get; set; }
}

/// <summary>SageMaker's own retries of one training job (CreateTrainingJob's RetryStrategy).</summary>
[Description("SageMakerRetryStrategy is SageMaker's RetryStrategy of one training job.")]
public sealed class SageMakerRetryStrategy
{
    [JsonPropertyName("maximumRetryAttempts")]
    [Required]
    [Minimum(1)]
    [Maximum(30)]
    [Description("MaximumRetryAttempts SageMaker makes after an internal error (1-30; RetryStrategy.MaximumRetryAttempts).")]
    public int MaximumRetryAttempts { get; set; } = 1;
}

/// <summary>The VPC a SageMaker job's instances join.</summary>
[Description("VpcSpec is the VPC a SageMaker job's instances join.")]
public sealed class VpcSpec
{
    [JsonPropertyName("securityGroupIds")]
    [Required]
    [Items(Min = 1, Max = 5)]
    [Length(Max = 32)]
    [Pattern("^[-0-9a-zA-Z]+$")]
    [Description("SecurityGroupIds, e.g. sg-0123456789abcdef0 (1-5).")]
    public IList<string> SecurityGroupIds { get; set; } = [];

    [JsonPropertyName("subnets")]
    [Required]
    [Items(Min = 1, Max = 16)]
    [Length(Max = 32)]
    [Pattern("^[-0-9a-zA-Z]+$")]
    [Description("Subnets, e.g. subnet-0123456789abcdef0 (1-16).")]
    public IList<string> Subnets { get; set; } = [];
}

/// <summary>Settings only the InCluster backend uses.</summary>
[Description("InClusterSpec holds the settings only the InCluster backend uses.")]
public sealed class InClusterSpec
{
    [JsonPropertyName("nodeSelector")]
    [MaxProperties(64)]
    [Length(Max = 63)]
    [Description("NodeSelector is added to every replica's pod.")]
    public IDictionary<string, string>? NodeSelector { get; set; }

    [JsonPropertyName("tolerations")]
    [Items(Max = 64)]
    [Description("Tolerations are added to every replica's pod.")]
    public IList<V1Toleration>? Tolerations { get; set; }

    [JsonPropertyName("priorityClassName")]
    [Length(Max = 253)]
    [Description("PriorityClassName of the pods.")]
    public string? PriorityClassName { get; set; }

    [JsonPropertyName("schedulerName")]
    [Length(Max = 253)]
    [Description("SchedulerName of the pods, e.g. a gang scheduler so all replicas start together.")]
    public string? SchedulerName { get; set; }

    [JsonPropertyName("serviceAccountName")]
    [Length(Max = 253)]
    [Pattern(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    [Description("ServiceAccountName the pods run as (e.g. one with IRSA access to the job's S3 buckets).")]
    public string? ServiceAccountName { get; set; }

    [JsonPropertyName("ttlSecondsAfterFinished")]
    [Minimum(0)]
    [Description("TtlSecondsAfterFinished deletes the TrainingJob this long after it finished; unset keeps it.")]
    public int? TtlSecondsAfterFinished { get; set; }

    [JsonPropertyName("cleanPodPolicy")]
    [Default("Running")]
    [Description("CleanPodPolicy is which pods are deleted when the job finishes: Running (pods still running, the default), All, or None (keep them for debugging).")]
    public CleanPodPolicy CleanPodPolicy { get; set; } = CleanPodPolicy.Running;

    [JsonPropertyName("imagePullSecrets")]
    [Items(Max = 16)]
    [Description("ImagePullSecrets name Secrets of type kubernetes.io/dockerconfigjson in the job's namespace that the kubelet uses to pull the training image from a private registry.")]
    public IList<ImagePullSecret>? ImagePullSecrets { get; set; }

    [JsonPropertyName("imagePullPolicy")]
    [Description("ImagePullPolicy of the training container: Always, IfNotPresent or Never; unset uses Kubernetes' default (Always for :latest or untagged images, IfNotPresent otherwise).")]
    public ImagePullPolicy? ImagePullPolicy { get; set; }

    [JsonPropertyName("shmSize")]
    [IntOrString]
    [Length(Max = 64)]
    [Pattern(ResourceSpec.QuantityPattern)]
    [JsonConverter(typeof(QuantityStringJsonConverter))]
    [Description("ShmSize limits the memory-backed /dev/shm of the training container (an emptyDir with medium Memory; NCCL and data-loader workers use it), a Kubernetes quantity such as 8Gi. Its pages count against the pod's memory. Unset: no limit of its own, so the pod's memory limit bounds it.")]
    public string? ShmSize { get; set; }

    [JsonPropertyName("securityContext")]
    [Description("SecurityContext sets the user and groups the training container runs as, for images that need them. The pods always pass the Pod Security restricted level: non-root, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault.")]
    public InClusterSecurityContext? SecurityContext { get; set; }
}

/// <summary>A Secret the kubelet uses to pull the training image.</summary>
[Description("ImagePullSecret names a Secret in the job's namespace.")]
public sealed class ImagePullSecret
{
    [JsonPropertyName("name")]
    [Required]
    [Length(Min = 1, Max = 253)]
    [Pattern(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    [Description("Name of the Secret.")]
    public string Name { get; set; } = "";
}

/// <summary>When the kubelet pulls the training image (Kubernetes' imagePullPolicy).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ImagePullPolicy>))]
public enum ImagePullPolicy
{
    Always,
    IfNotPresent,
    Never,
}

/// <summary>The identity the training container runs with; every value is a non-root choice the restricted Pod Security level admits.</summary>
[Description("InClusterSecurityContext sets the user and groups of the training container (pod securityContext fields of the same names).")]
public sealed class InClusterSecurityContext
{
    /// <summary>The group that owns /opt/ml when <see cref="FsGroup"/> is unset.</summary>
    public const long DefaultFsGroup = 65532;

    [JsonPropertyName("runAsUser")]
    [Minimum(1)]
    [Maximum(2147483647)]
    [Description("RunAsUser is the UID the training container runs as (not 0). Unset: the image's USER, which must then be numeric and non-root; set it for images that run as root or name their user.")]
    public long? RunAsUser { get; set; }

    [JsonPropertyName("runAsGroup")]
    [Minimum(0)]
    [Maximum(2147483647)]
    [Description("RunAsGroup is the primary GID of the training container. Unset: the image's group.")]
    public long? RunAsGroup { get; set; }

    [JsonPropertyName("fsGroup")]
    [Minimum(0)]
    [Maximum(2147483647)]
    [Description("FsGroup is a supplementary group of every container in the pod and owns /opt/ml, which is group-writable, so any UID can write its model and checkpoints. Default 65532.")]
    public long? FsGroup { get; set; }
}

/// <summary>Which pods are deleted when a job finishes (Kubeflow's semantics).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CleanPodPolicy>))]
public enum CleanPodPolicy
{
    None,
    Running,
    All,
}
