using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Ferry.Operator.Runtime.Telemetry;

/// <summary>
/// Counts and times every request the operator sends to the Kubernetes API server:
/// <c>ferry_kubernetes_requests_total{verb,resource,code}</c> and <c>ferry_kubernetes_request_duration_seconds{verb,resource}</c>
/// (for a watch, the time until the server answered, not the stream's life).
/// </summary>
/// <remarks>
/// Verbs are the API server's (<c>get</c>, <c>list</c>, <c>watch</c>, <c>create</c>, <c>update</c>, <c>patch</c>,
/// <c>delete</c>, <c>deletecollection</c>); the resource is the plural with its subresource (<c>trainingjobs/status</c>);
/// the code is the HTTP status, or <c>error</c> when no answer came. Names and namespaces are never labels.
/// </remarks>
public sealed class KubernetesApiMetricsHandler : DelegatingHandler
{
    /// <summary>Requests sent, by verb, resource and status code.</summary>
    public static Counter<long> Requests { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.kubernetes.requests", description: "Requests sent to the Kubernetes API server, by verb, resource and code.");

    /// <summary>Time until the API server answered, by verb and resource.</summary>
    public static Histogram<double> Latency { get; } = OperatorTelemetry.Seconds(
        "ferry.kubernetes.request.duration", "Time until the Kubernetes API server answered a request, by verb and resource.");

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (verb, resource) = Classify(request.Method, request.RequestUri);
        var started = Stopwatch.GetTimestamp();
        var code = "error";
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            code = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            return response;
        }
        finally
        {
            var verbTag = new KeyValuePair<string, object?>("verb", verb);
            var resourceTag = new KeyValuePair<string, object?>("resource", resource);
            Requests.Add(1, verbTag, resourceTag, new("code", code));
            Latency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, verbTag, resourceTag);
        }
    }

    /// <summary>The API server's verb and the resource (with subresource) of a request, as its audit log names them.</summary>
    public static (string Verb, string Resource) Classify(HttpMethod method, Uri? uri)
    {
        var path = uri is null ? "" : uri.IsAbsoluteUri ? uri.AbsolutePath : uri.OriginalString.Split('?')[0];
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        int rest;
        if (segments is ["api", _, ..])
        {
            rest = 2;
        }
        else if (segments is ["apis", _, _, ..])
        {
            rest = 3;
        }
        else
        {
            return (method.Method.ToLowerInvariant(), "nonresource");
        }

        var parts = segments[rest..];
        if (parts is ["namespaces", _, _, ..])
        {
            parts = parts[2..];
        }

        if (parts.Length == 0)
        {
            return (method.Method.ToLowerInvariant(), "discovery");
        }

        var resource = parts.Length > 2 ? $"{parts[0]}/{parts[2]}" : parts[0];
        var named = parts.Length > 1;
        var query = uri is null ? "" : uri.IsAbsoluteUri ? uri.Query : uri.OriginalString.Contains('?') ? uri.OriginalString[uri.OriginalString.IndexOf('?')..] : "";
        var verb = method.Method switch
        {
            "GET" when !named && IsWatch(query) => "watch",
            "GET" => named ? "get" : "list",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => named ? "delete" : "deletecollection",
            var other => other.ToLowerInvariant(),
        };
        return (verb, resource);
    }

    private static bool IsWatch(string query) =>
        query.TrimStart('?').Split('&').Any(p => p.Equals("watch=true", StringComparison.OrdinalIgnoreCase) || p.Equals("watch=1", StringComparison.Ordinal));
}
