using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;
using k8s;
using k8s.Models;

namespace Ferry.Crds.V1Alpha1;

/// <summary>A distributed training run on SageMaker, in the cluster or on this machine (ferry.dev/v1alpha1).</summary>
[KubernetesEntity(Group = Group, ApiVersion = Version, Kind = KubeKind, PluralName = Plural)]
[Description("TrainingJob runs a distributed training job on AWS SageMaker, in the cluster as pods, or locally as processes, and reports its progress, metrics and artifacts in status.")]
// Kubeflow's training jobs have the same rule: the name becomes a Service name (a DNS-1035 label)
// and, with "-<replica index>", pod host names of at most 63 characters.
[CelRule("size(self.metadata.name) <= 59 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    Message = "metadata.name must be a DNS-1035 label of at most 59 characters (lowercase letters, digits and '-', starting with a letter): it names the job's Service and its pods <name>-<replica index>; rename the TrainingJob")]
[PrinterColumn("Backend", "string", ".spec.backend", Description = "Where the job runs.")]
[PrinterColumn("Phase", "string", ".status.phase", Description = "The job's phase.")]
[PrinterColumn("Replicas", "integer", ".spec.resources.replicas", Description = "Number of training replicas.")]
[PrinterColumn("Attempt", "integer", ".status.attempt", Description = "Current attempt (1 for the first run).", Priority = 1)]
[PrinterColumn("Progress", "integer", ".status.progress.percent", Description = "Percent of the training done.")]
[PrinterColumn("ETA", "string", ".status.progress.eta", Description = "Estimated time remaining.")]
[PrinterColumn("Duration", "string", ".status.duration", Description = "Run time, from start to completion; written when the job finishes.")]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
[PrinterColumn("Started", "date", ".status.startTime", Description = "How long ago training started.", Priority = 1)]
[PrinterColumn("Model", "string", ".status.artifacts.model", Description = "URI of the trained model.", Priority = 1)]
[PrinterColumn("Reason", "string", ".status.conditions[-1:].reason", Description = "Reason of the most recent condition.", Priority = 1)]
[PrinterColumn("Message", "string", ".status.conditions[-1:].message", Description = "Message of the most recent condition.", Priority = 1)]
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
