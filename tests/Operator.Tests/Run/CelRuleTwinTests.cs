using System.Text.Json.Nodes;
using Ferry.Crds.Serialization;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;

namespace Ferry.Operator.Tests.Run;

/// <summary>`ferry run` evaluates C# twins of the CRD's CEL rules; they must stay paired with the committed CRD.</summary>
public sealed class CelRuleTwinTests
{
    private static readonly string CrdPath = Path.Combine(
        LocalPrograms.RepositoryRoot(AppContext.BaseDirectory) ?? throw new InvalidOperationException("no Operator.sln above the test binaries"),
        "config", "crd", "ferry.dev_trainingjobs.yaml");

    private static List<(string Path, JsonObject Rule)> CrdRules()
    {
        var crd = (JsonObject)ManifestYaml.ParseDocuments(File.ReadAllText(CrdPath)).Single()!;
        var schema = (JsonObject)crd["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;
        var rules = new List<(string, JsonObject)>();
        void Walk(JsonObject node, string path)
        {
            foreach (var rule in (node["x-kubernetes-validations"] as JsonArray ?? []).OfType<JsonObject>())
            {
                rules.Add((path, rule));
            }

            foreach (var (name, child) in node["properties"] as JsonObject ?? [])
            {
                Walk((JsonObject)child!, path + "." + name);
            }

            if (node["items"] is JsonObject items)
            {
                Walk(items, path + "[]");
            }

            if (node["additionalProperties"] is JsonObject additional)
            {
                Walk(additional, path + "{}");
            }
        }

        Walk(schema, "");
        return rules;
    }

    [Fact]
    public void Every_CEL_rule_in_the_CRD_has_a_twin_with_the_identical_message()
    {
        var rules = CrdRules();
        Assert.True(rules.Count >= 16, $"expected the CRD's CEL rules, found {rules.Count}");
        foreach (var (path, rule) in rules)
        {
            var text = (string)rule["rule"]!;
            var twin = CelRuleTwins.Find(text);
            Assert.True(twin is not null, $"the CEL rule at {path} has no C# twin: {text}");
            Assert.Equal((string)rule["message"]!, twin.Message);
        }
    }

    [Fact]
    public void Every_twin_stands_for_a_rule_of_the_CRD()
    {
        var rules = CrdRules().Select(r => (string)r.Rule["rule"]!).ToHashSet(StringComparer.Ordinal);
        Assert.All(CelRuleTwins.All, twin => Assert.Contains(twin.Rule, rules));
    }

    [Fact]
    public void The_immutability_twin_is_a_transition_rule_and_the_others_are_not()
    {
        var transition = Assert.Single(CelRuleTwins.All, t => t.IsTransitionRule);
        Assert.StartsWith("spec is immutable", transition.Message, StringComparison.Ordinal);

        var spec = JsonNode.Parse("""{"backend":"Local","suspend":false,"resources":{"replicas":2}}""")!;
        Assert.True(transition.Holds(spec, null));
        Assert.True(transition.Holds(spec, JsonNode.Parse("""{"backend":"Local","suspend":true,"resources":{"replicas":2}}""")));
        Assert.False(transition.Holds(spec, JsonNode.Parse("""{"backend":"Local","suspend":false,"resources":{"replicas":3}}""")));
    }
}
