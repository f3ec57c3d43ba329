using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.Operator.Tests.Helm;

/// <summary>One permission of a rendered Role or ClusterRole: a single API group, resource and verb (and the names it is limited to).</summary>
public sealed record RbacRule(string RoleKind, string RoleName, string Group, string Resource, string Verb, string? ResourceNames = null)
{
    public override string ToString() =>
        $"{RoleKind}/{RoleName}: {(Group.Length == 0 ? "core" : Group)} {Resource} {Verb}{(ResourceNames is null ? "" : $" [{ResourceNames}]")}";
}

/// <summary>
/// The chart's rendered RBAC (`helm template` of deploy/helm/ferry as release `ferry` in `ferry-system`): its
/// ServiceAccount, Roles, ClusterRoles and bindings, ready to load into the API emulator, and its rules one permission
/// at a time, so a test can drop each in turn.
/// </summary>
public sealed partial class ChartRbac
{
    /// <summary>The namespace and name of the operator's ServiceAccount in the rendered chart.</summary>
    public const string Namespace = "ferry-system";

    public const string ServiceAccount = "ferry";

    private static readonly HashSet<string> Kinds = ["ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];
    private static readonly ConcurrentDictionary<string, ChartRbac> Rendered = new();

    /// <summary>Each object parsed, and as written to the emulator (the rendered text, or JSON once changed).</summary>
    private readonly List<(Dictionary<object, object> Parsed, string Text)> _documents;

    private ChartRbac(List<(Dictionary<object, object> Parsed, string Text)> documents) => _documents = documents;

    /// <summary>The RBAC of the chart rendered with <paramref name="helmArguments"/> (e.g. <c>--set watchNamespaces={default}</c>); rendered once per arguments.</summary>
    public static ChartRbac Render(params string[] helmArguments) =>
        Rendered.GetOrAdd(string.Join('\u0001', helmArguments), _ =>
        {
            var result = HelmChart.Template(helmArguments);
            Assert.True(result.ExitCode == 0, $"helm template failed ({result.ExitCode}):\n{result.Stderr}");
            var documents = new List<(Dictionary<object, object>, string)>();
            foreach (var text in DocumentSeparator().Split(result.Stdout))
            {
                if (HelmChart.ParseDocuments(text) is [var parsed] && parsed.TryGetValue("kind", out var kind) && Kinds.Contains((string)kind))
                {
                    documents.Add((parsed, text));
                }
            }

            return new ChartRbac(documents);
        });

    /// <summary>The rendered objects of <paramref name="kind"/>, parsed.</summary>
    public IEnumerable<Dictionary<object, object>> OfKind(string kind) => _documents.Select(d => d.Parsed).Where(d => d.Str("kind") == kind);

    /// <summary>Every permission the Roles and ClusterRoles grant, one (group, resource, verb) each.</summary>
    public IReadOnlyList<RbacRule> Rules => [.. _documents.Select(d => d.Parsed).Where(IsRole).SelectMany(Expand)];

    /// <summary>The same RBAC without <paramref name="dropped"/> (the other permissions of its rule stay).</summary>
    public ChartRbac Without(RbacRule dropped)
    {
        var documents = new List<(Dictionary<object, object>, string)>();
        foreach (var (document, text) in _documents)
        {
            if (!IsRole(document) || document.Str("kind") != dropped.RoleKind || document.Map("metadata").Str("name") != dropped.RoleName)
            {
                documents.Add((document, text));
                continue;
            }

            var copy = new Dictionary<object, object>(document)
            {
                ["rules"] = Expand(document).Where(r => r != dropped).Select(ToRule).Cast<object>().ToList(),
            };
            documents.Add((copy, ToJson(copy)!.ToJsonString()));
        }

        return new ChartRbac(documents);
    }

    /// <summary>Writes the objects as one YAML stream (the release namespace first) and returns the path.</summary>
    public string WriteTo(string path)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine($"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {Namespace}");
        foreach (var (_, text) in _documents)
        {
            writer.WriteLine("---");
            writer.WriteLine(text);
        }

        return path;
    }

    /// <summary>A parsed RBAC object as JSON (every scalar of a Role is a string).</summary>
    private static JsonNode? ToJson(object? node) => node switch
    {
        Dictionary<object, object> map => new JsonObject(map.Select(e => KeyValuePair.Create((string)e.Key, ToJson(e.Value)))),
        List<object> list => new JsonArray([.. list.Select(ToJson)]),
        null => null,
        _ => JsonValue.Create(node.ToString()),
    };

    [GeneratedRegex(@"(?m)^---\s*$")]
    private static partial Regex DocumentSeparator();

    private static bool IsRole(Dictionary<object, object> document) => document.Str("kind") is "Role" or "ClusterRole";

    private static IEnumerable<RbacRule> Expand(Dictionary<object, object> role)
    {
        var kind = role.Str("kind");
        var name = role.Map("metadata").Str("name");
        foreach (var rule in role.Seq("rules").Cast<Dictionary<object, object>>())
        {
            var names = rule.Has("resourceNames") ? string.Join(",", rule.Seq("resourceNames").Cast<string>()) : null;
            foreach (var group in rule.Seq("apiGroups").Cast<string>())
            {
                foreach (var resource in rule.Seq("resources").Cast<string>())
                {
                    foreach (var verb in rule.Seq("verbs").Cast<string>())
                    {
                        yield return new RbacRule(kind, name, group, resource, verb, names);
                    }
                }
            }
        }
    }

    private static Dictionary<object, object> ToRule(RbacRule rule)
    {
        var map = new Dictionary<object, object>
        {
            ["apiGroups"] = new List<object> { rule.Group },
            ["resources"] = new List<object> { rule.Resource },
            ["verbs"] = new List<object> { rule.Verb },
        };
        if (rule.ResourceNames is { } names)
        {
            map["resourceNames"] = names.Split(',').Cast<object>().ToList();
        }

        return map;
    }
}
