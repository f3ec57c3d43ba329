using Ferry.KubeEmulator.Resources;

namespace Ferry.KubeEmulator.Http;

/// <summary>A request path resolved to a resource: <c>/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}</c> and friends.</summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris</remarks>
internal sealed record ApiRequest(string Group, string Version, string Plural, string? Namespace, string? Name, string? Subresource)
{
    public static ApiRequest? Parse(string path)
    {
        var segs = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        int rest;
        string group, version;
        if (segs.Length >= 3 && segs[0] == "api")
        {
            (group, version, rest) = ("", segs[1], 2);
        }
        else if (segs.Length >= 4 && segs[0] == "apis")
        {
            (group, version, rest) = (segs[1], segs[2], 3);
        }
        else
        {
            return null;
        }

        var r = segs[rest..];
        string? ns = null;
        if (r.Length >= 3 && r[0] == "namespaces" && r[2] is not "status" and not "finalize")
        {
            ns = r[1];
            r = r[2..];
        }

        return r.Length switch
        {
            1 => new ApiRequest(group, version, r[0], ns, null, null),
            2 => new ApiRequest(group, version, r[0], ns, r[1], null),
            3 => new ApiRequest(group, version, r[0], ns, r[1], r[2]),
            _ => null,
        };
    }

    /// <summary>The Kubernetes verb for an HTTP method on this path.</summary>
    public string VerbFor(string method, bool watch) => method switch
    {
        "GET" when watch => "watch",
        "GET" => Name is null ? "list" : "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => Name is null ? "deletecollection" : "delete",
        _ => method.ToLowerInvariant(),
    };

    public bool Matches(ApiResource r) => r.Group == Group && r.Version == Version && r.Plural == Plural;
}
