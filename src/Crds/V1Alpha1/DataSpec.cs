using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;

namespace Ferry.Crds.V1Alpha1;

/// <summary>The URI forms the API accepts for data, artifacts and checkpoints.</summary>
public static class StorageUri
{
    /// <summary>An <c>s3://bucket[/key]</c> URI or a <c>file://</c> URI (absolute, or <c>file://./relative</c>).</summary>
    public const string Pattern = @"^(s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?|file://.+)$";

    internal const string Explanation = "An s3://bucket/prefix URI, or with backend Local a file:// URI: file:///absolute/path, or file://./relative/path which `ferry run` resolves against its working directory.";
}

/// <summary>One data channel, downloaded to <c>/opt/ml/input/data/&lt;name&gt;</c>.</summary>
[Description("InputChannel is one data channel, available to the trainer at /opt/ml/input/data/<name> and SM_CHANNEL_<NAME>.")]
public sealed class InputChannel
{
    [JsonPropertyName("name")]
    [Required]
    [Length(Min = 1, Max = 64)]
    [Pattern(@"^[A-Za-z0-9.\-_]+$")]
    [Description("Name of the channel, e.g. train or test (1-64 characters: letters, digits, '.', '-', '_'; unique in the job).")]
    public string Name { get; set; } = "";

    [JsonPropertyName("uri")]
    [Required]
    [Length(Max = 1024)]
    [Pattern(StorageUri.Pattern)]
    [Description("URI of the data. " + StorageUri.Explanation)]
    public string Uri { get; set; } = "";

    [JsonPropertyName("distribution")]
    [Default("FullyReplicated")]
    [Description("Distribution: FullyReplicated (every replica gets all the data, the default) or ShardedByS3Key (each replica gets a disjoint share of the objects).")]
    public S3DataDistribution Distribution { get; set; } = S3DataDistribution.FullyReplicated;
}

/// <summary>How a channel's objects are spread over the replicas (SageMaker's S3DataDistributionType).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<S3DataDistribution>))]
public enum S3DataDistribution
{
    FullyReplicated,
    ShardedByS3Key,
}

/// <summary>Where a job's artifacts go.</summary>
[Description("OutputSpec is where the job's artifacts go.")]
public sealed class OutputSpec
{
    [JsonPropertyName("uri")]
    [Required]
    [Length(Max = 1024)]
    [Pattern(StorageUri.Pattern)]
    [Description("URI prefix of the artifacts; the model lands at <uri>/<job name>/output/model.tar.gz. " + StorageUri.Explanation)]
    public string Uri { get; set; } = "";
}

/// <summary>Where checkpoints are kept between attempts.</summary>
[Description("CheckpointSpec is where /opt/ml/checkpoints is kept between attempts.")]
public sealed class CheckpointSpec
{
    [JsonPropertyName("uri")]
    [Required]
    [Length(Max = 1024)]
    [Pattern(StorageUri.Pattern)]
    [Description("URI prefix synced with /opt/ml/checkpoints. " + StorageUri.Explanation)]
    public string Uri { get; set; } = "";
}
