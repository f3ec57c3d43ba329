using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;

namespace Ferry.Crds.V1Alpha1;

/// <summary>The replicas of a job and what each one gets.</summary>
[Description("ResourceSpec is the number of replicas and what each one gets.")]
public sealed class ResourceSpec
{
    /// <summary>A Kubernetes resource quantity such as <c>2</c>, <c>500m</c> or <c>8Gi</c>.</summary>
    public const string QuantityPattern = @"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

    [JsonPropertyName("replicas")]
    [Default(1)]
    [Minimum(1)]
    [Maximum(256)]
    [Description("Replicas is the number of training processes (hosts algo-1..N), 1-256.")]
    public int Replicas { get; set; } = 1;

    [JsonPropertyName("gpusPerReplica")]
    [Default(0)]
    [Minimum(0)]
    [Maximum(16)]
    [Description("GpusPerReplica is the number of GPUs (nvidia.com/gpu) each replica gets, 0-16; 0 trains on CPU.")]
    public int GpusPerReplica { get; set; }

    [JsonPropertyName("cpu")]
    [IntOrString]
    [Length(Max = 64)]
    [Pattern(QuantityPattern)]
    [JsonConverter(typeof(QuantityStringJsonConverter))]
    [Description("Cpu each replica requests, a Kubernetes quantity such as 4 or 3500m (InCluster and Local).")]
    public string? Cpu { get; set; }

    [JsonPropertyName("memory")]
    [IntOrString]
    [Length(Max = 64)]
    [Pattern(QuantityPattern)]
    [JsonConverter(typeof(QuantityStringJsonConverter))]
    [Description("Memory each replica requests, a Kubernetes quantity such as 16Gi (InCluster and Local).")]
    public string? Memory { get; set; }

    [JsonPropertyName("instanceType")]
    [Length(Max = 64)]
    [Pattern(@"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
    [Description("InstanceType is the SageMaker instance type, e.g. ml.g5.xlarge. Required for backend SageMaker.")]
    public string? InstanceType { get; set; }

    [JsonPropertyName("volumeSizeGB")]
    [Minimum(1)]
    [Maximum(16384)]
    [Description("VolumeSizeGB is the scratch volume each replica gets, in GB (1-16384).")]
    public int? VolumeSizeGB { get; set; }
}

/// <summary>How long a job may run and, with spot, wait.</summary>
[Description("StoppingCondition limits how long the job may run and, with spot capacity, wait.")]
[CelRule("!has(self.maxWaitSeconds) || (has(self.maxRuntimeSeconds) && self.maxWaitSeconds >= self.maxRuntimeSeconds)",
    Message = "spec.stoppingCondition.maxWaitSeconds must be at least maxRuntimeSeconds (the wait includes the run): set maxRuntimeSeconds and make maxWaitSeconds >= maxRuntimeSeconds",
    FieldPath = ".maxWaitSeconds")]
public sealed class StoppingCondition
{
    [JsonPropertyName("maxRuntimeSeconds")]
    [Minimum(1)]
    [Maximum(2419200)]
    [Description("MaxRuntimeSeconds stops an attempt that runs longer (1-2419200, i.e. 28 days).")]
    public int? MaxRuntimeSeconds { get; set; }

    [JsonPropertyName("maxWaitSeconds")]
    [Minimum(1)]
    [Description("MaxWaitSeconds is how long a spot job may wait for capacity plus run; only with spot: true, and at least maxRuntimeSeconds.")]
    public int? MaxWaitSeconds { get; set; }
}
