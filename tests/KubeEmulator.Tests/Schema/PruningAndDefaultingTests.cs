using System.Text.Json.Nodes;
using static Ferry.KubeEmulator.Tests.Schema.SchemaFixtures;

namespace Ferry.KubeEmulator.Tests.Schema;

/// <summary>Unknown fields are pruned (and reported); defaults fill absent fields before validation.</summary>
public sealed class PruningAndDefaultingTests(ValidatorFixture fixture) : IClassFixture<ValidatorFixture>
{
    private const string Properties = """
        {
          "image": {"type": "string"},
          "inputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
          "env": {"type": "object", "additionalProperties": {"type": "string"}},
          "extras": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
          "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}
        }
        """;

    [Fact]
    public async Task Unknown_fields_are_pruned_and_reported_with_their_paths()
    {
        var obj = Object("""
            {
              "image": "x", "foo": 1,
              "inputs": [{"name": "a", "extra": true}],
              "env": {"A": "1"},
              "extras": {"anything": {"goes": 1}},
              "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"dropped": 1}, "bogus": 2}
            }
            """);
        obj["topLevel"] = "gone";

        var result = await fixture.Validator.ValidateAsync(SpecSchema(Properties), obj, null, false);

        Assert.Empty(result.Errors);
        Assert.Equal(["spec.foo", "spec.inputs[0].extra", "spec.template.spec.dropped", "spec.template.bogus", "topLevel"], result.UnknownFields);
        var spec = result.Object["spec"]!.AsObject();
        Assert.False(spec.ContainsKey("foo"));
        Assert.False(spec["inputs"]![0]!.AsObject().ContainsKey("extra"));
        Assert.Equal(1, (int)spec["extras"]!["anything"]!["goes"]!);
        Assert.Equal("Pod", (string?)spec["template"]!["kind"]);
        Assert.Equal("p", (string?)spec["template"]!["metadata"]!["name"]);
        Assert.Equal("default", (string?)result.Object["metadata"]!["namespace"]);
        Assert.Equal("ferry.dev/v1alpha1", (string?)result.Object["apiVersion"]);
        // The caller's object is untouched.
        Assert.True(obj["spec"]!.AsObject().ContainsKey("foo"));
    }

    private const string Defaults = """
        {
          "backend": {"type": "string", "default": "InCluster"},
          "command": {"type": "array", "items": {"type": "string"}, "default": ["train"]},
          "resources": {"type": "object", "default": {}, "properties": {
              "replicas": {"type": "integer", "default": 1, "minimum": 1},
              "gpusPerReplica": {"type": "integer", "default": 0}}},
          "note": {"type": "string", "nullable": true, "default": "n"},
          "label": {"type": "string"},
          "inputs": {"type": "array", "items": {"type": "object", "properties": {
              "distribution": {"type": "string", "default": "FullyReplicated"}}}}
        }
        """;

    [Fact]
    public async Task Defaults_fill_absent_fields_recursively_before_validation()
    {
        var result = await fixture.Validator.ValidateAsync(SpecSchema(Defaults), Object("""{"inputs": [{}, {"distribution": "ShardedByS3Key"}]}"""), null, false);

        Assert.Empty(result.Errors);
        var expected = JsonNode.Parse("""
            {
              "inputs": [{"distribution": "FullyReplicated"}, {"distribution": "ShardedByS3Key"}],
              "backend": "InCluster",
              "command": ["train"],
              "resources": {"replicas": 1, "gpusPerReplica": 0},
              "note": "n"
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, result.Object["spec"]), result.Object["spec"]!.ToJsonString());
    }

    [Fact]
    public async Task Nulls_take_the_default_unless_nullable_and_are_dropped_without_one()
    {
        var result = await fixture.Validator.ValidateAsync(SpecSchema(Defaults),
            Object("""{"backend": null, "note": null, "label": null, "resources": {"replicas": null}}"""), null, false);

        Assert.Empty(result.Errors);
        var spec = result.Object["spec"]!.AsObject();
        Assert.Equal("InCluster", (string?)spec["backend"]);
        Assert.True(spec.ContainsKey("note"));
        Assert.Null(spec["note"]);
        Assert.False(spec.ContainsKey("label"));
        Assert.Equal(1, (int)spec["resources"]!["replicas"]!);
    }

    [Fact]
    public async Task Present_values_are_validated_not_replaced_by_defaults()
    {
        var result = await fixture.Validator.ValidateAsync(SpecSchema(Defaults), Object("""{"resources": {"replicas": 0}}"""), null, false);

        Assert.Equal(["spec.resources.replicas: Invalid value: 0: spec.resources.replicas in body should be greater than or equal to 1"], Messages(result));
    }
}
