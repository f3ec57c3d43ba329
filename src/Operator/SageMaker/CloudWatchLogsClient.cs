using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Operator.SageMaker;

/// <summary>
/// The CloudWatch Logs operations that read a SageMaker training job's logs (group <c>/aws/sagemaker/TrainingJobs</c>,
/// one stream per instance), named as in <c>AWSSDK.CloudWatchLogs</c>' <c>IAmazonCloudWatchLogs</c>.
/// </summary>
public interface ICloudWatchLogsClient
{
    /// <summary>The log streams of a group, optionally by name prefix (a job's streams start with its name).</summary>
    Task<DescribeLogStreamsResponse> DescribeLogStreamsAsync(DescribeLogStreamsRequest request, CancellationToken cancellationToken = default);

    /// <summary>A page of one stream's events; follow <see cref="GetLogEventsResponse.NextForwardToken"/> for new ones.</summary>
    Task<GetLogEventsResponse> GetLogEventsAsync(GetLogEventsRequest request, CancellationToken cancellationToken = default);
}

/// <summary>CloudWatch Logs over its JSON 1.1 protocol (<c>X-Amz-Target: Logs_20140328.&lt;Operation&gt;</c>), like <see cref="SageMakerClient"/>.</summary>
public sealed class CloudWatchLogsClient : ICloudWatchLogsClient, IDisposable
{
    /// <summary>Where SageMaker writes training jobs' logs.</summary>
    public const string TrainingJobsLogGroup = "/aws/sagemaker/TrainingJobs";

    public const string TargetPrefix = "Logs_20140328";
    public const string SigningName = "logs";

    private static readonly JsonSerializerOptions Json = new(SageMakerJson.Options) { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly AwsJsonClient _protocol;

    /// <summary>
    /// A client for <paramref name="options"/>' region; its <see cref="SageMakerClientOptions.Endpoint"/> override, when set,
    /// is taken for CloudWatch Logs too (an emulator serving both), else <c>https://logs.&lt;region&gt;.amazonaws.com</c>.
    /// </summary>
    public CloudWatchLogsClient(SageMakerClientOptions options, HttpClient? http = null) =>
        _protocol = new AwsJsonClient(TargetPrefix, SigningName, options.Endpoint ?? DefaultEndpoint(options.Region), options, SageMakerTelemetry.LogsRequests, http, Json);

    public Uri Endpoint => _protocol.Endpoint;

    /// <summary>The public endpoint of CloudWatch Logs in a region.</summary>
    public static Uri DefaultEndpoint(string region) => new(region.StartsWith("cn-", StringComparison.Ordinal)
        ? $"https://logs.{region}.amazonaws.com.cn/"
        : $"https://logs.{region}.amazonaws.com/");

    /// <inheritdoc />
    public Task<DescribeLogStreamsResponse> DescribeLogStreamsAsync(DescribeLogStreamsRequest request, CancellationToken cancellationToken = default) =>
        _protocol.CallAsync<DescribeLogStreamsRequest, DescribeLogStreamsResponse>("DescribeLogStreams", request, cancellationToken);

    /// <inheritdoc />
    public Task<GetLogEventsResponse> GetLogEventsAsync(GetLogEventsRequest request, CancellationToken cancellationToken = default) =>
        _protocol.CallAsync<GetLogEventsRequest, GetLogEventsResponse>("GetLogEvents", request, cancellationToken);

    public void Dispose() => _protocol.Dispose();
}

// CloudWatch Logs' shapes (2014-03-28): camelCase members, times as epoch milliseconds.

/// <summary>DescribeLogStreams' input.</summary>
public sealed record DescribeLogStreamsRequest
{
    public string? LogGroupName { get; init; }
    public string? LogStreamNamePrefix { get; init; }
    public string? OrderBy { get; init; }
    public bool? Descending { get; init; }
    public string? NextToken { get; init; }
    public int? Limit { get; init; }
}

/// <summary>DescribeLogStreams' output.</summary>
public sealed record DescribeLogStreamsResponse
{
    public IReadOnlyList<LogStream> LogStreams { get; init; } = [];
    public string? NextToken { get; init; }
}

/// <summary>One log stream (a training instance's output).</summary>
public sealed record LogStream
{
    public string? LogStreamName { get; init; }
    public long? CreationTime { get; init; }
    public long? FirstEventTimestamp { get; init; }
    public long? LastEventTimestamp { get; init; }
    public long? LastIngestionTime { get; init; }
    public string? Arn { get; init; }
}

/// <summary>GetLogEvents' input.</summary>
public sealed record GetLogEventsRequest
{
    public string? LogGroupName { get; init; }
    public required string LogStreamName { get; init; }
    public long? StartTime { get; init; }
    public long? EndTime { get; init; }
    public string? NextToken { get; init; }
    public int? Limit { get; init; }
    public bool? StartFromHead { get; init; }
}

/// <summary>GetLogEvents' output.</summary>
public sealed record GetLogEventsResponse
{
    public IReadOnlyList<OutputLogEvent> Events { get; init; } = [];
    public string? NextForwardToken { get; init; }
    public string? NextBackwardToken { get; init; }
}

/// <summary>One log line, with its time and when CloudWatch ingested it (epoch milliseconds).</summary>
public sealed record OutputLogEvent
{
    public long? Timestamp { get; init; }
    public string? Message { get; init; }
    public long? IngestionTime { get; init; }
}
