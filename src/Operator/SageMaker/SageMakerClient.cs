using System.Net;

namespace Ferry.Operator.SageMaker;

/// <summary>
/// SageMaker over its JSON 1.1 protocol (<c>X-Amz-Target: SageMaker.&lt;Operation&gt;</c>) through <see cref="AwsJsonClient"/>:
/// SigV4-signed, retried on throttling and 5xx, every attempt counted on <see cref="SageMakerTelemetry.Requests"/>.
/// </summary>
public sealed class SageMakerClient : ISageMakerClient, IDisposable
{
    /// <summary>The JSON 1.1 content type.</summary>
    public const string ContentType = AwsJsonClient.ContentType;

    /// <summary>The target prefix and signing name of SageMaker's service model.</summary>
    public const string TargetPrefix = "SageMaker";
    public const string SigningName = "sagemaker";

    private readonly AwsJsonClient _protocol;

    /// <summary>A client for <paramref name="options"/>; <paramref name="http"/> is used as given (not disposed) when passed.</summary>
    public SageMakerClient(SageMakerClientOptions options, HttpClient? http = null) =>
        _protocol = new AwsJsonClient(TargetPrefix, SigningName, options.ResolvedEndpoint, options, SageMakerTelemetry.Requests, http);

    /// <summary>The endpoint requests go to.</summary>
    public Uri Endpoint => _protocol.Endpoint;

    /// <inheritdoc />
    public Task<CreateTrainingJobResponse> CreateTrainingJobAsync(CreateTrainingJobRequest request, CancellationToken cancellationToken = default) =>
        CallAsync<CreateTrainingJobRequest, CreateTrainingJobResponse>("CreateTrainingJob", request, cancellationToken);

    /// <inheritdoc />
    public Task<DescribeTrainingJobResponse> DescribeTrainingJobAsync(DescribeTrainingJobRequest request, CancellationToken cancellationToken = default) =>
        CallAsync<DescribeTrainingJobRequest, DescribeTrainingJobResponse>("DescribeTrainingJob", request, cancellationToken);

    /// <inheritdoc />
    public Task<StopTrainingJobResponse> StopTrainingJobAsync(StopTrainingJobRequest request, CancellationToken cancellationToken = default) =>
        CallAsync<StopTrainingJobRequest, StopTrainingJobResponse>("StopTrainingJob", request, cancellationToken);

    /// <inheritdoc />
    public Task<ListTrainingJobsResponse> ListTrainingJobsAsync(ListTrainingJobsRequest request, CancellationToken cancellationToken = default) =>
        CallAsync<ListTrainingJobsRequest, ListTrainingJobsResponse>("ListTrainingJobs", request, cancellationToken);

    /// <inheritdoc />
    public Task<ListTagsResponse> ListTagsAsync(ListTagsRequest request, CancellationToken cancellationToken = default) =>
        CallAsync<ListTagsRequest, ListTagsResponse>("ListTags", request, cancellationToken);

    /// <summary>Whether an error is worth another attempt: throttling and 500/502/503/504.</summary>
    public static bool IsRetryable(SageMakerException error) => AwsJsonClient.IsRetryable(error);

    /// <summary>The typed exception for an error answer.</summary>
    public static SageMakerException ErrorFor(string code, string message, HttpStatusCode status, string? requestId) =>
        AwsJsonClient.ErrorFor(code, message, status, requestId);

    public void Dispose() => _protocol.Dispose();

    private Task<TResponse> CallAsync<TRequest, TResponse>(string operation, TRequest request, CancellationToken cancellationToken) =>
        _protocol.CallAsync<TRequest, TResponse>(operation, request, cancellationToken);
}
