using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Resources;

namespace Ferry.KubeEmulator.Authorization;

/// <summary>The outcome of authorizing one request, with the binding and rule that allowed it or why it was refused.</summary>
public sealed record AuthorizationDecision(bool Allowed, string Reason);

/// <summary>
/// Authorizes requests as the apiserver's authorizer chain does with <c>--authorization-mode=RBAC</c>: members of
/// <c>system:masters</c> are allowed everything; otherwise ClusterRoleBindings apply everywhere and RoleBindings in their
/// namespace (referring to a Role there or to a ClusterRole), and a request is allowed when one rule of a bound role
/// matches its verb, API group, resource (<c>*</c>, <c>resource/subresource</c>, <c>*/subresource</c>) and name, or its
/// non-resource path.
/// </summary>
/// <remarks>https://kubernetes.io/docs/reference/access-authn-authz/rbac/ and plugin/pkg/auth/authorizer/rbac/rbac.go</remarks>
public sealed class RbacAuthorizer(ResourceRegistry registry)
{
    private const string Group = "rbac.authorization.k8s.io";

    /// <summary>Decides whether <paramref name="user"/> may do <paramref name="request"/>.</summary>
    public AuthorizationDecision Authorize(UserInfo user, RequestAttributes request)
    {
        if (user.Groups.Contains("system:masters"))
        {
            return new AuthorizationDecision(true, "allowed: member of system:masters");
        }

        var errors = new List<string>();
        foreach (var binding in Objects("clusterrolebindings", null))
        {
            if (Allows(binding, "ClusterRoleBinding", "", user, request, errors) is { } allowed)
            {
                return allowed;
            }
        }

        if (request.Namespace.Length > 0)
        {
            foreach (var binding in Objects("rolebindings", request.Namespace))
            {
                if (Allows(binding, "RoleBinding", request.Namespace, user, request, errors) is { } allowed)
                {
                    return allowed;
                }
            }
        }

        return new AuthorizationDecision(false, errors.Count switch
        {
            0 => "",
            1 => $"RBAC: {errors[0]}",
            _ => $"RBAC: [{string.Join(", ", errors)}]",
        });
    }

    /// <summary>The default roles and bindings every cluster has (discovery, basic user, public info, cluster-admin for system:masters).</summary>
    /// <remarks>plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go</remarks>
    public static IEnumerable<JsonObject> BootstrapPolicy()
    {
        string[] discovery = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"];
        string[] publicInfo = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
        yield return ClusterRole("cluster-admin",
            new JsonObject { ["apiGroups"] = Array("*"), ["resources"] = Array("*"), ["verbs"] = Array("*") },
            new JsonObject { ["nonResourceURLs"] = Array("*"), ["verbs"] = Array("*") });
        yield return ClusterRoleBinding("cluster-admin", "cluster-admin", "system:masters");
        yield return ClusterRole("system:discovery", new JsonObject { ["nonResourceURLs"] = Array(discovery), ["verbs"] = Array("get") });
        yield return ClusterRoleBinding("system:discovery", "system:discovery", "system:authenticated");
        yield return ClusterRole("system:basic-user",
            new JsonObject { ["apiGroups"] = Array("authorization.k8s.io"), ["resources"] = Array("selfsubjectaccessreviews", "selfsubjectrulesreviews"), ["verbs"] = Array("create") },
            new JsonObject { ["apiGroups"] = Array("authentication.k8s.io"), ["resources"] = Array("selfsubjectreviews"), ["verbs"] = Array("create") });
        yield return ClusterRoleBinding("system:basic-user", "system:basic-user", "system:authenticated");
        yield return ClusterRole("system:public-info-viewer", new JsonObject { ["nonResourceURLs"] = Array(publicInfo), ["verbs"] = Array("get") });
        yield return ClusterRoleBinding("system:public-info-viewer", "system:public-info-viewer", "system:authenticated", "system:unauthenticated");
    }

    private AuthorizationDecision? Allows(JsonObject binding, string bindingKind, string bindingNamespace, UserInfo user, RequestAttributes request, List<string> errors)
    {
        var subjects = binding["subjects"] as JsonArray ?? [];
        var subjectIndex = subjects.OfType<JsonObject>().ToList().FindIndex(s => SubjectMatches(s, user, bindingNamespace));
        if (subjectIndex < 0)
        {
            return null;
        }

        var roleKind = (string?)binding["roleRef"]?["kind"] ?? "";
        var roleName = (string?)binding["roleRef"]?["name"] ?? "";
        var role = roleKind switch
        {
            "ClusterRole" => registry.Find(Group, "v1", "clusterroles")?.Collection.Get("", roleName)?.ToJsonObject(),
            "Role" when bindingNamespace.Length > 0 => registry.Find(Group, "v1", "roles")?.Collection.Get(bindingNamespace, roleName)?.ToJsonObject(),
            _ => null,
        };
        if (role is null)
        {
            errors.Add(roleKind == "ClusterRole"
                ? $"clusterrole.rbac.authorization.k8s.io \"{roleName}\" not found"
                : $"role.rbac.authorization.k8s.io \"{roleName}\" not found");
            return null;
        }

        var rules = (role["rules"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        for (var i = 0; i < rules.Count; i++)
        {
            if (RuleAllows(rules[i], request))
            {
                var bindingName = (string?)binding["metadata"]?["name"];
                var where = bindingNamespace.Length > 0 ? $" in namespace \"{bindingNamespace}\"" : "";
                var subject = subjects[subjectIndex]!;
                return new AuthorizationDecision(true,
                    $"RBAC: allowed by {bindingKind} \"{bindingName}\"{where} of {roleKind} \"{roleName}\" (rule {i}: {rules[i].ToJsonString()}) to {(string?)subject["kind"]} \"{(string?)subject["name"]}\"");
            }
        }

        return null;
    }

    private static bool SubjectMatches(JsonObject subject, UserInfo user, string bindingNamespace)
    {
        var name = (string?)subject["name"] ?? "";
        return (string?)subject["kind"] switch
        {
            "User" => name == user.Name,
            "Group" => user.Groups.Contains(name),
            // A ServiceAccount subject without a namespace means the binding's own (rbac/v1 helpers.go appliesToUser).
            "ServiceAccount" => user.Name == $"system:serviceaccount:{((string?)subject["namespace"] is { Length: > 0 } ns ? ns : bindingNamespace)}:{name}",
            _ => false,
        };
    }

    /// <summary>One PolicyRule against the request (rbac/v1 evaluation_helpers.go RuleAllows).</summary>
    public static bool RuleAllows(JsonObject rule, RequestAttributes request)
    {
        var verbs = Strings(rule["verbs"]);
        if (!verbs.Contains("*") && !verbs.Contains(request.Verb))
        {
            return false;
        }

        if (!request.IsResourceRequest)
        {
            return Strings(rule["nonResourceURLs"]).Any(u => u == "*" || u == request.Path || (u.EndsWith('*') && request.Path.StartsWith(u[..^1], StringComparison.Ordinal)));
        }

        var groups = Strings(rule["apiGroups"]);
        if (!groups.Contains("*") && !groups.Contains(request.Group))
        {
            return false;
        }

        var resources = Strings(rule["resources"]);
        var resourceMatches = resources.Any(r => r == "*" || r == request.CombinedResource
            || (request.Subresource.Length > 0 && r == $"*/{request.Subresource}"));
        if (!resourceMatches)
        {
            return false;
        }

        var names = Strings(rule["resourceNames"]);
        return names.Count == 0 || names.Contains(request.Name);
    }

    private IEnumerable<JsonObject> Objects(string plural, string? ns) =>
        registry.Find(Group, "v1", plural) is { } r ? r.Collection.Snapshot(ns).Select(o => o.ToJsonObject()) : [];

    private static List<string> Strings(JsonNode? node) => (node as JsonArray ?? []).Select(n => (string?)n ?? "").ToList();

    private static JsonArray Array(params string[] values) => new(values.Select(v => (JsonNode)v).ToArray());

    private static JsonObject ClusterRole(string name, params JsonObject[] rules) => new()
    {
        ["apiVersion"] = $"{Group}/v1",
        ["kind"] = "ClusterRole",
        ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["kubernetes.io/bootstrapping"] = "rbac-defaults" } },
        ["rules"] = new JsonArray(rules.Select(r => (JsonNode)r).ToArray()),
    };

    private static JsonObject ClusterRoleBinding(string name, string role, params string[] groups) => new()
    {
        ["apiVersion"] = $"{Group}/v1",
        ["kind"] = "ClusterRoleBinding",
        ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["kubernetes.io/bootstrapping"] = "rbac-defaults" } },
        ["roleRef"] = new JsonObject { ["apiGroup"] = Group, ["kind"] = "ClusterRole", ["name"] = role },
        ["subjects"] = new JsonArray(groups.Select(g => (JsonNode)new JsonObject { ["apiGroup"] = Group, ["kind"] = "Group", ["name"] = g }).ToArray()),
    };
}
