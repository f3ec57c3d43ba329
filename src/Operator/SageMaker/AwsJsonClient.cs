using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Signing;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Ferry.Operator.SageMaker;

/// <summary>
/// The AWS JSON 1.1 protocol (<c>POST /</c>, <c>X-Amz-Target: &lt;prefix&gt;.&lt;Operation&gt;</c>) signed with AWSSDK.Core's SigV4
/// signer, as SageMaker and CloudWatch Logs speak it. Throttling, 5xx answers, network errors and attempt timeouts are
/// retried with jittered exponential backoff, signing every attempt afresh; every attempt is counted on <c>requests</c>.
/// </summary>
public sealed class AwsJsonClient : IDisposable
{
    /// <summary>The JSON 1.1 content type; AWS refuses a charset suffix on it.</summary>
    public const string ContentType = "application/x-amz-json-1.1";

    private static readonly HashSet<string> ThrottlingCodes = new(StringComparer.Ordinal)
    {
        "ThrottlingException", "ThrottledException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
        "RequestThrottled", "RequestThrottledException", "SlowDown", "PriorRequestNotComplete", "ProvisionedThroughputExceededException",
    };

    private static readonly HashSet<string> AccessDeniedCodes = new(StringComparer.Ordinal)
    {
        "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
        "IncompleteSignatureException", "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken", "MissingAuthenticationToken",
        "MissingAuthenticationTokenException", "SignatureDoesNotMatch",
    };

    private readonly SageMakerClientOptions _options;
    private readonly string _targetPrefix;
    private readonly string _signingName;
    private readonly Counter<long> _requests;
    private readonly JsonSerializerOptions _json;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ResiliencePipeline _pipeline;
    private readonly RegionEndpoint _region;
    private readonly SemaphoreSlim _credentialsLock = new(1, 1);
    private AWSCredentials? _credentials;

    /// <summary>
    /// A client of the service with <paramref name="targetPrefix"/> and <paramref name="signingName"/> at <paramref name="endpoint"/>,
    /// counting attempts on <paramref name="requests"/> and reading and writing JSON with <paramref name="json"/> (SageMaker's
    /// settings by default); <paramref name="http"/> is used as given (not disposed) when passed.
    /// </summary>
    public AwsJsonClient(string targetPrefix, string signingName, Uri endpoint, SageMakerClientOptions options, Counter<long> requests, HttpClient? http = null, JsonSerializerOptions? json = null)
    {
        _json = json ?? SageMakerJson.Options;
        _targetPrefix = targetPrefix;
        _signingName = signingName;
        _requests = requests;
        Endpoint = endpoint;
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Region);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1);
        _options = options;
        _credentials = options.Credentials;
        _region = RegionEndpoint.GetBySystemName(options.Region);
        _ownsHttp = http is null;
        // Pooled connections are recycled so a long-running operator follows DNS changes of the endpoint.
        _http = http ?? new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
        var builder = new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider };
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder()
                    .Handle<SageMakerException>(IsRetryable)
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>(),
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
            });
        }

        _pipeline = builder.AddTimeout(options.AttemptTimeout).Build();
    }

    /// <summary>The endpoint requests go to.</summary>
    public Uri Endpoint { get; }

    /// <summary>Whether an error is worth another attempt: throttling and 500/502/503/504.</summary>
    public static bool IsRetryable(SageMakerException error) =>
        ThrottlingCodes.Contains(error.ErrorCode)
        || error.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests;

    /// <summary>The typed exception for an error answer.</summary>
    public static SageMakerException ErrorFor(string code, string message, HttpStatusCode status, string? requestId) => code switch
    {
        "ResourceInUse" => new ResourceInUseException(message, status, requestId),
        "ResourceNotFound" or "ResourceNotFoundException" => new ResourceNotFoundException(code, message, status, requestId),
        // SageMaker answers Describe/Stop of an unknown training job this way rather than with ResourceNotFound.
        "ValidationException" when message.StartsWith("Requested resource not found", StringComparison.Ordinal)
            => new ResourceNotFoundException(code, message, status, requestId),
        "ValidationException" => new SageMakerValidationException(message, status, requestId),
        "ResourceLimitExceeded" => new ResourceLimitExceededException(message, status, requestId),
        _ when AccessDeniedCodes.Contains(code) => new SageMakerAccessDeniedException(code, message, status, requestId),
        _ => new SageMakerException(code, message, status, requestId),
    };

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }

        _credentialsLock.Dispose();
    }

    /// <summary>Calls <paramref name="operation"/> with <paramref name="request"/> and reads its answer.</summary>
    public async Task<TResponse> CallAsync<TRequest, TResponse>(string operation, TRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = JsonSerializer.SerializeToUtf8Bytes(request, _json);
        return await _pipeline.ExecuteAsync(
            async token => await SendOnceAsync<TResponse>(operation, body, token, cancellationToken),
            cancellationToken);
    }

    // attemptToken ends with the attempt's timeout or the caller's cancellation; callerToken tells the two apart.
    private async Task<TResponse> SendOnceAsync<TResponse>(string operation, byte[] body, CancellationToken attemptToken, CancellationToken callerToken)
    {
        var outcome = "network_error";
        try
        {
            var credentials = await CredentialsAsync(attemptToken);
            var signing = new AWSSigningRequest { HttpMethod = HttpMethod.Post, RequestUri = Endpoint, Content = body };
            signing.Headers["Content-Type"] = ContentType;
            signing.Headers["X-Amz-Target"] = $"{_targetPrefix}.{operation}";
            var signature = await AWSSigV4Signer.SignAsync(signing, new AWSSigV4Parameters
            {
                Credentials = credentials,
                Region = _region,
                Service = _signingName,
                SignPayload = true,
                SignedAt = _options.TimeProvider.GetUtcNow().UtcDateTime,
            }, attemptToken);

            using var message = new HttpRequestMessage(HttpMethod.Post, Endpoint) { Content = new ByteArrayContent(body) };
            message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(ContentType);
            message.Headers.TryAddWithoutValidation("X-Amz-Target", signing.Headers["X-Amz-Target"]);
            foreach (var (name, value) in signature.Headers)
            {
                if (!name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) && !name.Equals("X-Amz-Target", StringComparison.OrdinalIgnoreCase))
                {
                    message.Headers.TryAddWithoutValidation(name, value);
                }
            }

            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, attemptToken);
            var text = await response.Content.ReadAsStringAsync(attemptToken);
            var requestId = response.Headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault() : null;
            if (response.IsSuccessStatusCode)
            {
                var result = JsonSerializer.Deserialize<TResponse>(text.Length == 0 ? "{}" : text, _json)
                    ?? throw new SageMakerException("SerializationException", $"{operation} answered an empty body", response.StatusCode, requestId);
                outcome = SageMakerTelemetry.Success;
                return result;
            }

            var error = ParseError(response, text, requestId);
            outcome = error.ErrorCode;
            throw error;
        }
        catch (OperationCanceledException) when (attemptToken.IsCancellationRequested)
        {
            outcome = callerToken.IsCancellationRequested ? "cancelled" : "timeout";
            throw;
        }
        catch (JsonException e)
        {
            outcome = "invalid_response";
            throw new SageMakerException("SerializationException", $"{operation} answered JSON that does not fit its shape: {e.Message}", HttpStatusCode.OK, null, e);
        }
        finally
        {
            _requests.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    private static SageMakerException ParseError(HttpResponseMessage response, string text, string? requestId)
    {
        string? code = null;
        string? message = null;
        if (response.Headers.TryGetValues("x-amzn-ErrorType", out var types))
        {
            code = types.FirstOrDefault();
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (property.Name == "__type" && property.Value.ValueKind == JsonValueKind.String)
                    {
                        code ??= property.Value.GetString();
                    }
                    else if (property.Name.Equals("message", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                    {
                        message = property.Value.GetString();
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (e.g. a proxy's 502 page): the status decides.
        }

        code = NormalizeCode(code) ?? $"Http{(int)response.StatusCode}";
        message ??= string.IsNullOrWhiteSpace(text) ? response.ReasonPhrase ?? "" : text.Length > 512 ? text[..512] : text;
        return ErrorFor(code, message, response.StatusCode, requestId);
    }

    // "com.amazonaws.sagemaker#ResourceInUse" and "ValidationException:http://internal.amazon.com/..." both name the code.
    private static string? NormalizeCode(string? code)
    {
        if (string.IsNullOrWhiteSpace(code))
        {
            return null;
        }

        var hash = code.LastIndexOf('#');
        if (hash >= 0)
        {
            code = code[(hash + 1)..];
        }

        var colon = code.IndexOf(':', StringComparison.Ordinal);
        return colon >= 0 ? code[..colon] : code;
    }

    private async Task<AWSCredentials> CredentialsAsync(CancellationToken cancellationToken)
    {
        if (_credentials is { } known)
        {
            return known;
        }

        await _credentialsLock.WaitAsync(cancellationToken);
        try
        {
            // The resolved credentials refresh themselves (web identity, container and instance credentials expire).
            using var resolver = new DefaultAWSCredentialsIdentityResolver();
            return _credentials ??= await resolver.ResolveIdentityAsync(null!, cancellationToken);
        }
        finally
        {
            _credentialsLock.Release();
        }
    }
}
