using static Ferry.KubeEmulator.Tests.Schema.SchemaFixtures;

namespace Ferry.KubeEmulator.Tests.Schema;

/// <summary>Validation ratcheting on update: values left unchanged keep being accepted after the schema got stricter.</summary>
public sealed class RatchetingTests(ValidatorFixture fixture) : IClassFixture<ValidatorFixture>
{
    private const string Strict = """
        {
          "replicas": {"type": "integer", "minimum": 2},
          "image": {"type": "string", "x-kubernetes-validations": [{"rule": "self.contains(':')", "message": "image needs a tag"}]},
          "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
          "suspend": {"type": "boolean"}
        }
        """;

    [Fact]
    public async Task Unchanged_invalid_values_pass_on_update_but_not_on_create()
    {
        var stored = Object("""{"replicas": 1, "image": "trainer", "tags": ["a", "a"]}""");
        var edited = Object("""{"replicas": 1, "image": "trainer", "tags": ["a", "a"], "suspend": true}""");

        Assert.Empty((await fixture.Validator.ValidateAsync(SpecSchema(Strict), edited, stored, false)).Errors);
        Assert.Equal([
            "spec.replicas: Invalid value: 1: spec.replicas in body should be greater than or equal to 2",
            "spec.tags[1]: Duplicate value: \"a\"",
            "spec.image: Invalid value: \"string\": image needs a tag",
        ], Messages(await fixture.Validator.ValidateAsync(SpecSchema(Strict), edited, null, false)));
    }

    [Fact]
    public async Task Changed_values_are_validated_in_full()
    {
        var stored = Object("""{"replicas": 1, "image": "trainer", "tags": ["a"]}""");
        var edited = Object("""{"replicas": 0, "image": "other", "tags": ["b", "b"]}""");

        Assert.Equal([
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 2",
            "spec.tags[1]: Duplicate value: \"b\"",
            "spec.image: Invalid value: \"string\": image needs a tag",
        ], Messages(await fixture.Validator.ValidateAsync(SpecSchema(Strict), edited, stored, false)));
    }
}
