using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Errors;

/// <summary>An API failure that is answered with a Kubernetes <c>Status</c> object.</summary>
/// <remarks>Status shape and reasons: https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind</remarks>
public sealed class ApiException(int code, string reason, string message, JsonObject? details = null) : Exception(message)
{
    /// <summary>The HTTP status code, also <c>Status.code</c>.</summary>
    public int Code { get; } = code;

    /// <summary>The machine-readable <c>Status.reason</c> (NotFound, AlreadyExists, Conflict, Invalid, ...).</summary>
    public string Reason { get; } = reason;

    /// <summary>The optional <c>Status.details</c>.</summary>
    public JsonObject? Details { get; } = details;

    /// <summary>Seconds a client should wait (sent as <c>Retry-After</c> and <c>details.retryAfterSeconds</c>).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>The <c>Status</c> body for this failure.</summary>
    public JsonObject ToStatus()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
        };
        if (Reason.Length > 0)
        {
            // An error the apiserver does not classify (StatusReasonUnknown) has no reason.
            status["reason"] = Reason;
        }

        var details = Details?.DeepClone().AsObject();
        if (RetryAfterSeconds is { } retry)
        {
            details ??= [];
            details["retryAfterSeconds"] = retry;
        }

        if (details is not null)
        {
            status["details"] = details;
        }

        status["code"] = Code;
        return status;
    }

    /// <summary>404: <c>pods "x" not found</c>.</summary>
    public static ApiException NotFound(string group, string plural, string name) =>
        new(404, "NotFound", $"{Qualified(group, plural)} \"{name}\" not found", DetailsOf(group, plural, name));

    /// <summary>409: <c>pods "x" already exists</c>.</summary>
    public static ApiException AlreadyExists(string group, string plural, string name) =>
        new(409, "AlreadyExists", $"{Qualified(group, plural)} \"{name}\" already exists", DetailsOf(group, plural, name));

    /// <summary>409 on a stale resourceVersion, worded as the apiserver words it.</summary>
    public static ApiException Conflict(string group, string plural, string name, string why = "the object has been modified; please apply your changes to the latest version and try again") =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {Qualified(group, plural)} \"{name}\": {why}", DetailsOf(group, plural, name));

    /// <summary>400 BadRequest.</summary>
    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    /// <summary>405 MethodNotAllowed.</summary>
    public static ApiException MethodNotAllowed(string message = "the server does not allow this method on the requested resource") =>
        new(405, "MethodNotAllowed", message);

    /// <summary>410 Gone with reason Expired, as the watch cache sends for a compacted resourceVersion.</summary>
    public static ApiException Expired(string message) => new(410, "Expired", message);

    /// <summary>415 UnsupportedMediaType for an unknown patch type.</summary>
    public static ApiException UnsupportedMediaType(string contentType) =>
        new(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {contentType})");

    /// <summary>422 Invalid with one cause per field error: <c>Kind.group "name" is invalid: field: message</c>.</summary>
    public static ApiException Invalid(string group, string kind, string name, IReadOnlyList<(string Reason, string Field, string Message)> causes)
    {
        var texts = causes.Select(c => $"{c.Field}: {c.Message}").ToList();
        var joined = texts.Count == 1 ? texts[0] : "[" + string.Join(", ", texts) + "]";
        var qualifiedKind = group.Length == 0 ? kind : $"{kind}.{group}";
        var details = new JsonObject { ["name"] = name, ["group"] = group, ["kind"] = kind };
        var array = new JsonArray();
        foreach (var c in causes)
        {
            array.Add(new JsonObject { ["reason"] = c.Reason, ["message"] = c.Message, ["field"] = c.Field });
        }

        details["causes"] = array;
        return new ApiException(422, "Invalid", $"{qualifiedKind} \"{name}\" is invalid: {joined}", details);
    }

    internal static string Qualified(string group, string plural) => group.Length == 0 ? plural : $"{plural}.{group}";

    private static JsonObject DetailsOf(string group, string plural, string name) =>
        new() { ["name"] = name, ["group"] = group, ["kind"] = plural };
}
