using System.Net;
using k8s.Models;

namespace Ferry.Operator.Runtime.Resources;

/// <summary>A request the Kubernetes API server refused, with its HTTP status and Status body.</summary>
public sealed class KubernetesApiException(HttpStatusCode statusCode, string message, V1Status? status = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The HTTP status code of the response (or of the watch ERROR event).</summary>
    public HttpStatusCode StatusCode { get; } = statusCode;

    /// <summary>The Status object the server returned, when it returned one.</summary>
    public V1Status? Status { get; } = status;

    /// <summary>409: the object changed since it was read (or already exists on create).</summary>
    public bool IsConflict => StatusCode == HttpStatusCode.Conflict;

    /// <summary>404: the object (or its namespace) does not exist.</summary>
    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound;

    /// <summary>410: the resourceVersion is too old; list again.</summary>
    public bool IsGone => StatusCode == HttpStatusCode.Gone;

    /// <summary>Whether retrying the same request later can succeed (conflicts, throttling, server errors, timeouts).</summary>
    public bool IsTransient => IsConflict || IsGone || StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout
        || (int)StatusCode >= 500;
}
