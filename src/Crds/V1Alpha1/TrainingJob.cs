using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;
using k8s;
using k8s.Models;

namespace Ferry.Crds.V1Alpha1;

/// <summary>A distributed training run on SageMaker, in the cluster or on this machine (ferry.dev/v1alpha1).</summary>
[KubernetesEntity(Group = Group, ApiVersion = Version, Kind = KubeKind, PluralName = Plural)]
[Description("TrainingJob runs a distributed training job on AWS SageMaker, in the cluster as pods, or locally as processes, and reports its progress, metrics and artifacts in status.")]
public sealed class TrainingJob : IKubernetesObject<V1ObjectMeta>, ISpec<TrainingJobSpec>, IStatus<TrainingJobStatus?>
{
    public const string Group = "ferry.dev";
    public const string Version = "v1alpha1";

    // `Kind` is the IKubernetesObject property, so the constant follows KubernetesClient's `KubeKind` naming.
    public const string KubeKind = "TrainingJob";
    public const string ListKind = "TrainingJobList";
    public const string Plural = "trainingjobs";
    public const string Singular = "trainingjob";
    public const string ShortName = "tj";

    // KubernetesClient's constant names, so generic client code (e.g. GenericClient) finds them.
    public const string KubeGroup = Group;
    public const string KubeApiVersion = Version;
    public const string KubePluralName = Plural;

    /// <summary>The <c>apiVersion</c> every TrainingJob carries: <c>ferry.dev/v1alpha1</c>.</summary>
    public const string GroupVersion = Group + "/" + Version;

    [JsonPropertyName("apiVersion")]
    [Description("APIVersion defines the versioned schema of this representation of an object: ferry.dev/v1alpha1.")]
    public string ApiVersion { get; set; } = GroupVersion;

    [JsonPropertyName("kind")]
    [Description("Kind is the REST resource this object represents: TrainingJob.")]
    public string Kind { get; set; } = KubeKind;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    [Required]
    [Description("Spec is what to train, where and with which limits. Immutable once created, except suspend.")]
    public TrainingJobSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    [Description("Status is written by the operator: phase, conditions, metrics and artifact locations.")]
    public TrainingJobStatus? Status { get; set; }
}

/// <summary>A list of TrainingJobs, as returned by the API server.</summary>
public sealed class TrainingJobList : IKubernetesObject<V1ListMeta>, IItems<TrainingJob>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = TrainingJob.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = TrainingJob.ListKind;

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<TrainingJob> Items { get; set; } = [];
}
