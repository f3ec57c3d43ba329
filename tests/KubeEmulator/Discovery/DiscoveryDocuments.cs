using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Resources;

namespace Ferry.KubeEmulator.Discovery;

/// <summary>The discovery endpoints: /version, /api, /apis, /apis/{group}, and the per-group-version APIResourceLists.</summary>
/// <remarks>https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api (legacy, unaggregated form; a request for
/// the aggregated form is answered with it too, and clients fall back because the response Content-Type is plain application/json).</remarks>
internal static class DiscoveryDocuments
{
    public const string GitVersion = "v1.32.0";

    private static readonly string[] ObjectVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

    public static JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = "32",
        ["gitVersion"] = GitVersion,
        ["gitCommit"] = "70d3cc986aa8221cd1dfb1121852688902d3bf53",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2024-12-11T17:59:15Z",
        ["goVersion"] = "go1.23.3",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    public static JsonObject CoreVersions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    public static JsonObject GroupList(ResourceRegistry registry) => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(registry.All.Where(r => r.Group.Length > 0).GroupBy(r => r.Group).Select(g => (JsonNode)Group(g.Key, g)).ToArray()),
    };

    public static JsonObject? Group(ResourceRegistry registry, string group)
    {
        var resources = registry.All.Where(r => r.Group == group).ToList();
        return resources.Count == 0 ? null : Group(group, resources);
    }

    private static JsonObject Group(string name, IEnumerable<ApiResource> resources)
    {
        var versions = resources.Select(r => r.Version).Distinct().OrderByDescending(VersionPriority).ToList();
        var group = new JsonObject
        {
            ["kind"] = "APIGroup",
            ["apiVersion"] = "v1",
            ["name"] = name,
            ["versions"] = new JsonArray(versions.Select(v => (JsonNode)new JsonObject { ["groupVersion"] = $"{name}/{v}", ["version"] = v }).ToArray()),
            ["preferredVersion"] = new JsonObject { ["groupVersion"] = $"{name}/{versions[0]}", ["version"] = versions[0] },
        };
        return group;
    }

    /// <summary>Kubernetes version priority: GA above beta above alpha, higher numbers first.</summary>
    /// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definition-versioning/#version-priority</remarks>
    private static int VersionPriority(string v)
    {
        var m = System.Text.RegularExpressions.Regex.Match(v, @"^v(\d+)(?:(alpha|beta)(\d+))?$");
        if (!m.Success)
        {
            return 0;
        }

        var major = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var stage = m.Groups[2].Value switch { "" => 3, "beta" => 2, _ => 1 };
        var minor = m.Groups[3].Success && m.Groups[3].Value.Length > 0 ? int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return (stage * 1000 + major) * 1000 + minor;
    }

    public static JsonObject? ResourceList(ResourceRegistry registry, string group, string version)
    {
        var resources = registry.All.Where(r => r.Group == group && r.Version == version).ToList();
        if (resources.Count == 0)
        {
            return null;
        }

        var list = new JsonArray();
        foreach (var r in resources)
        {
            var entry = new JsonObject
            {
                ["name"] = r.Plural,
                ["singularName"] = r.Singular,
                ["namespaced"] = r.Namespaced,
                ["kind"] = r.Kind,
                ["verbs"] = new JsonArray(ObjectVerbs.Select(v => (JsonNode)v).ToArray()),
            };
            if (r.ShortNames.Count > 0)
            {
                entry["shortNames"] = new JsonArray(r.ShortNames.Select(s => (JsonNode)s).ToArray());
            }

            if (r.Categories.Count > 0)
            {
                entry["categories"] = new JsonArray(r.Categories.Select(s => (JsonNode)s).ToArray());
            }

            list.Add(entry);
            if (r.HasStatusSubresource)
            {
                list.Add(new JsonObject
                {
                    ["name"] = r.Plural + "/status",
                    ["singularName"] = "",
                    ["namespaced"] = r.Namespaced,
                    ["kind"] = r.Kind,
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = list,
        };
    }
}
