using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;

namespace Ferry.Crds.V1Alpha1;

/// <summary>What actually ran: the lineage of a job's model, for experiments and audits.</summary>
[Description("LineageStatus records what actually ran: the image (with its digest when the runtime reports one), the hyperparameters, the inputs as the replicas saw them, the model artifact's size and SHA-256, the backend, attempts and times.")]
public sealed class LineageStatus
{
    [JsonPropertyName("backend")]
    [Description("Backend the job ran on.")]
    public TrainingJobBackend? Backend { get; set; }

    [JsonPropertyName("image")]
    [Description("Image of spec.image as the job asked for it (absent for Local jobs that run the built trainer).")]
    public string? Image { get; set; }

    [JsonPropertyName("imageDigest")]
    [Pattern(@"^sha256:[0-9a-f]{64}$")]
    [Description("ImageDigest is the digest of the image that ran (sha256:...), from the pod's imageID, when the container runtime reports it.")]
    public string? ImageDigest { get; set; }

    [JsonPropertyName("hyperParameters")]
    [Description("HyperParameters the job ran with (spec.hyperParameters).")]
    public IDictionary<string, string>? HyperParameters { get; set; }

    [JsonPropertyName("inputs")]
    [Items(Max = 20)]
    [Description("Inputs are the channels as replica 0's agent listed them when it downloaded them: object count and total bytes.")]
    public IList<LineageInput>? Inputs { get; set; }

    [JsonPropertyName("model")]
    [Description("Model is the uploaded model.tar.gz: URI, size and SHA-256 of its bytes (equal to the stored object's).")]
    public LineageArtifact? Model { get; set; }

    [JsonPropertyName("attempts")]
    [Minimum(0)]
    [Description("Attempts the job took (1 when the first succeeded).")]
    public int? Attempts { get; set; }

    [JsonPropertyName("startTime")]
    [Description("StartTime is when the first replica started training.")]
    public DateTime? StartTime { get; set; }

    [JsonPropertyName("completionTime")]
    [Description("CompletionTime is when the job ended.")]
    public DateTime? CompletionTime { get; set; }
}

/// <summary>One input channel as the agent saw it.</summary>
[Description("LineageInput is one input channel as the agent listed it.")]
public sealed class LineageInput
{
    [JsonPropertyName("name")]
    [Required]
    [Description("Name of the channel.")]
    public string Name { get; set; } = "";

    [JsonPropertyName("uri")]
    [Description("Uri of the channel (spec.inputs[].uri).")]
    public string? Uri { get; set; }

    [JsonPropertyName("objects")]
    [Minimum(0)]
    [Description("Objects under the channel's URI.")]
    public long Objects { get; set; }

    [JsonPropertyName("bytes")]
    [Minimum(0)]
    [Description("Bytes of those objects in total.")]
    public long Bytes { get; set; }
}

/// <summary>An artifact the job produced.</summary>
[Description("LineageArtifact is an artifact the job produced: where, how large, and the SHA-256 of its bytes.")]
public sealed class LineageArtifact
{
    [JsonPropertyName("uri")]
    [Description("Uri of the artifact.")]
    public string? Uri { get; set; }

    [JsonPropertyName("size")]
    [Minimum(0)]
    [Description("Size in bytes.")]
    public long? Size { get; set; }

    [JsonPropertyName("sha256")]
    [Pattern("^[0-9a-f]{64}$")]
    [Description("Sha256 of the artifact's bytes, lowercase hex.")]
    public string? Sha256 { get; set; }
}
