using System.Diagnostics.Metrics;
using Amazon.Runtime;

namespace Ferry.Operator.Runtime.Telemetry;

/// <summary>S3 calls on the operator's meter: <c>ferry_s3_requests_total{operation,outcome}</c>.</summary>
public static class S3Telemetry
{
    /// <summary>The outcome of an answered call.</summary>
    public const string Success = "success";

    /// <summary>S3 calls by operation (e.g. <c>ListObjectsV2</c>) and outcome (<c>success</c>, S3's error code, or <c>network_error</c>).</summary>
    public static Counter<long> Requests { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.s3.requests", description: "S3 requests sent, by operation and outcome.");

    /// <summary>Counts every call <paramref name="client"/> makes from now on.</summary>
    public static TClient Attach<TClient>(TClient client)
        where TClient : AmazonServiceClient
    {
        client.AfterResponseEvent += (_, e) =>
        {
            if (e is WebServiceResponseEventArgs response)
            {
                Count(response.Request, Success);
            }
        };
        client.ExceptionEvent += (_, e) =>
        {
            if (e is WebServiceExceptionEventArgs failure)
            {
                Count(failure.Request, failure.Exception is AmazonServiceException { ErrorCode: { Length: > 0 } code } ? code : "network_error");
            }
        };
        return client;
    }

    private static void Count(AmazonWebServiceRequest? request, string outcome)
    {
        var operation = request?.GetType().Name is { } type && type.EndsWith("Request", StringComparison.Ordinal) ? type[..^"Request".Length] : "Unknown";
        Requests.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("outcome", outcome));
    }
}
