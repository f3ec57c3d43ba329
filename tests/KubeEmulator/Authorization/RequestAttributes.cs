namespace Ferry.KubeEmulator.Authorization;

/// <summary>
/// What a request asks to do, derived as the apiserver's RequestInfo does: verb (get, list, watch, create, update, patch,
/// delete, deletecollection), API group, resource, subresource, namespace and name; or a non-resource path and its verb.
/// </summary>
public sealed record RequestAttributes(string Verb, bool IsResourceRequest, string Group, string Resource, string Subresource,
    string Namespace, string Name, string Path)
{
    /// <summary>A resource request.</summary>
    public static RequestAttributes ForResource(string verb, string group, string resource, string? subresource, string? ns, string? name) =>
        new(verb, true, group, resource, subresource ?? "", ns ?? "", name ?? "", "");

    /// <summary>A request for a path outside the resource tree (discovery, /version, /openapi/v3, /healthz).</summary>
    public static RequestAttributes ForPath(string verb, string path) => new(verb, false, "", "", "", "", "", path);

    /// <summary>The resource as RBAC rules name it: <c>pods</c> or <c>pods/status</c>.</summary>
    public string CombinedResource => Subresource.Length == 0 ? Resource : $"{Resource}/{Subresource}";

    /// <summary>The apiserver's wording of a refusal (responsewriters.forbiddenMessage).</summary>
    public string ForbiddenMessage(UserInfo user)
    {
        if (!IsResourceRequest)
        {
            return $"User \"{user.Name}\" cannot {Verb} path \"{Path}\"";
        }

        return Namespace.Length > 0
            ? $"User \"{user.Name}\" cannot {Verb} resource \"{CombinedResource}\" in API group \"{Group}\" in the namespace \"{Namespace}\""
            : $"User \"{user.Name}\" cannot {Verb} resource \"{CombinedResource}\" in API group \"{Group}\" at the cluster scope";
    }
}
