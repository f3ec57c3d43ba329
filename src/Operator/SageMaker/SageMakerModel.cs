using System.Text.Json.Serialization;

namespace Ferry.Operator.SageMaker;

// Request and response shapes of SageMaker's service model (2017-07-24). Member names are the model's, so the
// records serialize to its JSON 1.1 shapes as they are and read like AWSSDK.SageMaker's Amazon.SageMaker.Model types.

/// <summary>CreateTrainingJob's input.</summary>
public sealed record CreateTrainingJobRequest
{
    public required string TrainingJobName { get; init; }
    public IReadOnlyDictionary<string, string>? HyperParameters { get; init; }
    public AlgorithmSpecification? AlgorithmSpecification { get; init; }
    public required string RoleArn { get; init; }
    public IReadOnlyList<Channel>? InputDataConfig { get; init; }
    public required OutputDataConfig OutputDataConfig { get; init; }
    public ResourceConfig? ResourceConfig { get; init; }
    public VpcConfig? VpcConfig { get; init; }
    public StoppingCondition? StoppingCondition { get; init; }
    public IReadOnlyList<Tag>? Tags { get; init; }
    public bool? EnableNetworkIsolation { get; init; }
    public bool? EnableInterContainerTrafficEncryption { get; init; }
    public bool? EnableManagedSpotTraining { get; init; }
    public CheckpointConfig? CheckpointConfig { get; init; }
    public ExperimentConfig? ExperimentConfig { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public RetryStrategy? RetryStrategy { get; init; }
}

/// <summary>CreateTrainingJob's output.</summary>
public sealed record CreateTrainingJobResponse
{
    public required string TrainingJobArn { get; init; }
}

/// <summary>DescribeTrainingJob's input.</summary>
public sealed record DescribeTrainingJobRequest
{
    public required string TrainingJobName { get; init; }
}

/// <summary>DescribeTrainingJob's output (the members the operator reads; unknown members are ignored).</summary>
public sealed record DescribeTrainingJobResponse
{
    public required string TrainingJobName { get; init; }
    public required string TrainingJobArn { get; init; }
    public ModelArtifacts? ModelArtifacts { get; init; }
    public required string TrainingJobStatus { get; init; }
    public required string SecondaryStatus { get; init; }
    public string? FailureReason { get; init; }
    public IReadOnlyDictionary<string, string>? HyperParameters { get; init; }
    public AlgorithmSpecification? AlgorithmSpecification { get; init; }
    public string? RoleArn { get; init; }
    public IReadOnlyList<Channel>? InputDataConfig { get; init; }
    public OutputDataConfig? OutputDataConfig { get; init; }
    public ResourceConfig? ResourceConfig { get; init; }
    public VpcConfig? VpcConfig { get; init; }
    public StoppingCondition? StoppingCondition { get; init; }
    public required DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset? TrainingStartTime { get; init; }
    public DateTimeOffset? TrainingEndTime { get; init; }
    public DateTimeOffset? LastModifiedTime { get; init; }
    public IReadOnlyList<SecondaryStatusTransition>? SecondaryStatusTransitions { get; init; }
    public IReadOnlyList<MetricData>? FinalMetricDataList { get; init; }
    public bool? EnableNetworkIsolation { get; init; }
    public bool? EnableInterContainerTrafficEncryption { get; init; }
    public bool? EnableManagedSpotTraining { get; init; }
    public CheckpointConfig? CheckpointConfig { get; init; }
    public int? TrainingTimeInSeconds { get; init; }
    public int? BillableTimeInSeconds { get; init; }
    public ExperimentConfig? ExperimentConfig { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public RetryStrategy? RetryStrategy { get; init; }
}

/// <summary>StopTrainingJob's input (its output is empty).</summary>
public sealed record StopTrainingJobRequest
{
    public required string TrainingJobName { get; init; }
}

/// <summary>ListTrainingJobs' input.</summary>
public sealed record ListTrainingJobsRequest
{
    public string? NextToken { get; init; }
    public int? MaxResults { get; init; }
    public DateTimeOffset? CreationTimeAfter { get; init; }
    public DateTimeOffset? CreationTimeBefore { get; init; }
    public DateTimeOffset? LastModifiedTimeAfter { get; init; }
    public DateTimeOffset? LastModifiedTimeBefore { get; init; }
    public string? NameContains { get; init; }
    public string? StatusEquals { get; init; }
    public string? SortBy { get; init; }
    public string? SortOrder { get; init; }
}

/// <summary>ListTrainingJobs' output.</summary>
public sealed record ListTrainingJobsResponse
{
    public IReadOnlyList<TrainingJobSummary> TrainingJobSummaries { get; init; } = [];
    public string? NextToken { get; init; }
}

/// <summary>One job in a ListTrainingJobs page.</summary>
public sealed record TrainingJobSummary
{
    public required string TrainingJobName { get; init; }
    public required string TrainingJobArn { get; init; }
    public required DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset? TrainingEndTime { get; init; }
    public DateTimeOffset? LastModifiedTime { get; init; }
    public required string TrainingJobStatus { get; init; }
    public string? SecondaryStatus { get; init; }
}

/// <summary>ListTags' input: the tags of a SageMaker resource (DescribeTrainingJob does not return them).</summary>
public sealed record ListTagsRequest
{
    public required string ResourceArn { get; init; }
    public string? NextToken { get; init; }
    public int? MaxResults { get; init; }
}

/// <summary>ListTags' output.</summary>
public sealed record ListTagsResponse
{
    public IReadOnlyList<Tag> Tags { get; init; } = [];
    public string? NextToken { get; init; }
}

/// <summary>The training image, input mode, metrics and entry point.</summary>
public sealed record AlgorithmSpecification
{
    public string? TrainingImage { get; init; }
    public required string TrainingInputMode { get; init; }
    public IReadOnlyList<MetricDefinition>? MetricDefinitions { get; init; }
    public IReadOnlyList<string>? ContainerEntrypoint { get; init; }
    public IReadOnlyList<string>? ContainerArguments { get; init; }
}

/// <summary>A metric SageMaker reads from the training log.</summary>
public sealed record MetricDefinition(string Name, string Regex);

/// <summary>One input channel.</summary>
public sealed record Channel
{
    public required string ChannelName { get; init; }
    public required DataSource DataSource { get; init; }
    public string? ContentType { get; init; }
    public string? CompressionType { get; init; }
    public string? InputMode { get; init; }
}

/// <summary>Where a channel's data comes from.</summary>
public sealed record DataSource
{
    public S3DataSource? S3DataSource { get; init; }
}

/// <summary>An S3 prefix (or manifest) and how its objects are spread over the instances.</summary>
public sealed record S3DataSource
{
    public required string S3DataType { get; init; }
    public required string S3Uri { get; init; }
    public string? S3DataDistributionType { get; init; }
}

/// <summary>Where SageMaker writes the model, and the KMS key that encrypts it.</summary>
public sealed record OutputDataConfig
{
    public string? KmsKeyId { get; init; }
    public required string S3OutputPath { get; init; }
}

/// <summary>The instances of a training job.</summary>
public sealed record ResourceConfig
{
    public string? InstanceType { get; init; }
    public int? InstanceCount { get; init; }
    public int? VolumeSizeInGB { get; init; }
    public string? VolumeKmsKeyId { get; init; }
}

/// <summary>The VPC the instances join.</summary>
public sealed record VpcConfig
{
    public required IReadOnlyList<string> SecurityGroupIds { get; init; }
    public required IReadOnlyList<string> Subnets { get; init; }
}

/// <summary>The limits SageMaker enforces: run time, and with spot the wait for capacity plus run time.</summary>
public sealed record StoppingCondition
{
    public int? MaxRuntimeInSeconds { get; init; }
    public int? MaxWaitTimeInSeconds { get; init; }
}

/// <summary>Where SageMaker syncs <c>/opt/ml/checkpoints</c>.</summary>
public sealed record CheckpointConfig
{
    public required string S3Uri { get; init; }
    public string? LocalPath { get; init; }
}

/// <summary>The experiment and trial a job is recorded under.</summary>
public sealed record ExperimentConfig
{
    public string? ExperimentName { get; init; }
    public string? TrialName { get; init; }
    public string? TrialComponentDisplayName { get; init; }
    public string? RunName { get; init; }
}

/// <summary>SageMaker's own restarts of a job after an internal error.</summary>
public sealed record RetryStrategy(int MaximumRetryAttempts);

/// <summary>A resource tag.</summary>
public sealed record Tag(string Key, string Value);

/// <summary>Where the model artifact was written.</summary>
public sealed record ModelArtifacts(string S3ModelArtifacts);

/// <summary>One secondary-status step of a job, with its time span and SageMaker's message.</summary>
public sealed record SecondaryStatusTransition
{
    public required string Status { get; init; }
    public required DateTimeOffset StartTime { get; init; }
    public DateTimeOffset? EndTime { get; init; }
    public string? StatusMessage { get; init; }
}

/// <summary>A final metric value.</summary>
public sealed record MetricData
{
    public string? MetricName { get; init; }
    public float? Value { get; init; }
    public DateTimeOffset? Timestamp { get; init; }
}

/// <summary>The values of <c>TrainingJobStatus</c>.</summary>
public static class TrainingJobStatusValues
{
    public const string InProgress = "InProgress";
    public const string Completed = "Completed";
    public const string Failed = "Failed";
    public const string Stopping = "Stopping";
    public const string Stopped = "Stopped";
}

/// <summary>The values of <c>SecondaryStatus</c> a training job goes through.</summary>
public static class SecondaryStatusValues
{
    public const string Starting = "Starting";
    public const string LaunchingMLInstances = "LaunchingMLInstances";
    public const string PreparingTrainingStack = "PreparingTrainingStack";
    public const string Downloading = "Downloading";
    public const string DownloadingTrainingImage = "DownloadingTrainingImage";
    public const string Training = "Training";
    public const string Uploading = "Uploading";
    public const string Stopping = "Stopping";
    public const string Stopped = "Stopped";
    public const string MaxRuntimeExceeded = "MaxRuntimeExceeded";
    public const string MaxWaitTimeExceeded = "MaxWaitTimeExceeded";
    public const string Completed = "Completed";
    public const string Failed = "Failed";
    public const string Interrupted = "Interrupted";
    public const string Restarting = "Restarting";
    public const string Pending = "Pending";
}
