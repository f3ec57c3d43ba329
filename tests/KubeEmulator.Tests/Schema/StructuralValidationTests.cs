using static Ferry.KubeEmulator.Tests.Schema.SchemaFixtures;

namespace Ferry.KubeEmulator.Tests.Schema;

/// <summary>Each OpenAPI keyword passes a good value and refuses a bad one with the apiserver's exact message.</summary>
public sealed class StructuralValidationTests(ValidatorFixture fixture) : IClassFixture<ValidatorFixture>
{
    private const string Backend = """{"backend": {"type": "string", "enum": ["InCluster", "SageMaker", "Local"]}}""";
    private const string Replicas = """{"replicas": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 64}}""";
    private const string InputName = """{"inputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9.\\-_]+$"}}}}}""";
    private const string Inputs = """{"inputs": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string"}}}""";
    private const string HyperParameters = """{"hyperParameters": {"type": "object", "maxProperties": 2, "minProperties": 1, "additionalProperties": {"type": "string", "maxLength": 2500}}}""";

    public static TheoryData<string, string, string, string> Cases => new()
    {
        // name, spec schema properties, spec value, expected errors joined by '\n' ("" = valid)
        { "minimum ok", Replicas, """{"replicas": 1}""", "" },
        { "minimum", Replicas, """{"replicas": 0}""", "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1" },
        { "maximum", Replicas, """{"replicas": 65}""", "spec.replicas: Invalid value: 65: spec.replicas in body should be less than or equal to 64" },
        { "exclusiveMinimum", """{"rate": {"type": "number", "minimum": 0.5, "exclusiveMinimum": true}}""", """{"rate": 0.5}""", "spec.rate: Invalid value: 0.5: spec.rate in body should be greater than 0.5" },
        { "exclusiveMaximum", """{"rate": {"type": "number", "maximum": 1, "exclusiveMaximum": true}}""", """{"rate": 1}""", "spec.rate: Invalid value: 1: spec.rate in body should be less than 1" },
        { "exclusiveMaximum ok", """{"rate": {"type": "number", "maximum": 1, "exclusiveMaximum": true}}""", """{"rate": 0.99}""", "" },
        { "multipleOf", """{"step": {"type": "integer", "multipleOf": 8}}""", """{"step": 12}""", "spec.step: Invalid value: 12: spec.step in body should be a multiple of 8" },
        { "multipleOf ok", """{"step": {"type": "integer", "multipleOf": 8}}""", """{"step": 16}""", "" },
        { "integral float is an integer", Replicas, """{"replicas": 2.0}""", "" },
        { "type integer", Replicas, """{"replicas": "two"}""", "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"" },
        { "type number from float", Replicas, """{"replicas": 1.5}""", "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"" },
        { "type object", Backend, "\"InCluster\"", "spec: Invalid value: \"string\": spec in body must be of type object: \"string\"" },
        { "type boolean", """{"spot": {"type": "boolean"}}""", """{"spot": "yes"}""", "spec.spot: Invalid value: \"string\": spec.spot in body must be of type boolean: \"string\"" },
        { "type array", Inputs, """{"inputs": "a"}""", "spec.inputs: Invalid value: \"string\": spec.inputs in body must be of type array: \"string\"" },
        { "enum ok", Backend, """{"backend": "Local"}""", "" },
        { "enum", Backend, """{"backend": "Foo"}""", "spec.backend: Unsupported value: \"Foo\": supported values: \"InCluster\", \"SageMaker\", \"Local\"" },
        { "enum of integers", """{"n": {"type": "integer", "enum": [1, 2]}}""", """{"n": 3}""", "spec.n: Unsupported value: 3: supported values: \"1\", \"2\"" },
        { "pattern ok", InputName, """{"inputs": [{"name": "train-1.x_y"}]}""", "" },
        { "pattern", InputName, """{"inputs": [{"name": "a b"}]}""", "spec.inputs[0].name: Invalid value: \"a b\": spec.inputs[0].name in body should match '^[A-Za-z0-9.\\-_]+$'" },
        { "pattern $ is the very end", InputName, """{"inputs": [{"name": "ab\n"}]}""", "spec.inputs[0].name: Invalid value: \"ab\\n\": spec.inputs[0].name in body should match '^[A-Za-z0-9.\\-_]+$'" },
        { "pattern is not anchored unless written so", """{"uri": {"type": "string", "pattern": "s3://"}}""", """{"uri": "see s3://bucket"}""", "" },
        { "minLength", """{"name": {"type": "string", "minLength": 1}}""", """{"name": ""}""", "spec.name: Invalid value: \"\": spec.name in body should be at least 1 chars long" },
        { "maxLength counts code points", """{"name": {"type": "string", "maxLength": 3}}""", """{"name": "été"}""", "" },
        { "maxLength", HyperParameters, "{\"hyperParameters\": {\"x\": \"" + new string('a', 2501) + "\"}}", "spec.hyperParameters.x: Too long: may not be more than 2500 bytes" },
        { "maxItems", Inputs, "{\"inputs\": [" + string.Join(",", Enumerable.Repeat("\"a\"", 21)) + "]}", "spec.inputs: Too many: 21: must have at most 20 items" },
        { "maxItems ok", Inputs, "{\"inputs\": [" + string.Join(",", Enumerable.Repeat("\"a\"", 20)) + "]}", "" },
        { "minItems", Inputs, """{"inputs": []}""", "spec.inputs: Invalid value: 0: spec.inputs in body should have at least 1 items" },
        { "maxProperties", HyperParameters, """{"hyperParameters": {"a": "1", "b": "2", "c": "3"}}""", "spec.hyperParameters: Too many: 3: must have at most 2 items" },
        { "minProperties", HyperParameters, """{"hyperParameters": {}}""", "spec.hyperParameters: Invalid value: 0: spec.hyperParameters in body should have at least 1 properties" },
        { "additionalProperties schema", HyperParameters, """{"hyperParameters": {"lr": 1}}""", "spec.hyperParameters.lr: Invalid value: \"integer\": spec.hyperParameters.lr in body must be of type string: \"integer\"" },
        { "required", """{"image": {"type": "string"}}""", "{}", "spec.image: Required value" },
        { "required ok", """{"image": {"type": "string"}}""", """{"image": "x"}""", "" },
        { "nullable", """{"note": {"type": "string", "nullable": true}}""", """{"note": null}""", "" },
        { "null list item", """{"tags": {"type": "array", "items": {"type": "string"}}}""", """{"tags": [null]}""", "spec.tags[0]: Invalid value: \"null\": spec.tags[0] in body must be of type string: \"null\"" },
        { "date-time ok", """{"at": {"type": "string", "format": "date-time"}}""", """{"at": "2024-05-01T10:00:00Z"}""", "" },
        { "date-time", """{"at": {"type": "string", "format": "date-time"}}""", """{"at": "yesterday"}""", "spec.at: Invalid value: \"yesterday\": spec.at in body must be of type date-time: \"yesterday\"" },
        { "byte", """{"blob": {"type": "string", "format": "byte"}}""", """{"blob": "not base64!"}""", "spec.blob: Invalid value: \"not base64!\": spec.blob in body must be of type byte: \"not base64!\"" },
        { "byte ok", """{"blob": {"type": "string", "format": "byte"}}""", """{"blob": "aGVsbG8="}""", "" },
        { "int-or-string int", """{"port": {"x-kubernetes-int-or-string": true}}""", """{"port": 8080}""", "" },
        { "int-or-string string", """{"port": {"x-kubernetes-int-or-string": true}}""", """{"port": "http"}""", "" },
        { "int-or-string", """{"port": {"x-kubernetes-int-or-string": true}}""", """{"port": true}""", "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"" },
        { "list-type set", """{"tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}""", """{"tags": ["a", "b", "a"]}""", "spec.tags[2]: Duplicate value: \"a\"" },
        { "list-type set ok", """{"tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}""", """{"tags": ["a", "b"]}""", "" },
        { "list-type map", ListMap, """{"inputs": [{"name": "train", "uri": "s3://a"}, {"name": "train", "uri": "s3://b"}]}""", "spec.inputs[1]: Duplicate value: map[string]interface {}{\"name\":\"train\"}" },
        { "list-type map ok", ListMap, """{"inputs": [{"name": "train"}, {"name": "test"}]}""", "" },
        { "list-type map missing key", ListMap, """{"inputs": [{"uri": "s3://a"}]}""", "spec.inputs[0].name: Required value" },
        { "embedded resource", """{"template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}""", """{"template": {"apiVersion": "v1"}}""", "spec.template.kind: Required value: must not be empty" },
        { "embedded resource ok", """{"template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}""", """{"template": {"apiVersion": "v1", "kind": "Pod", "spec": {}}}""", "" },
        { "several errors", """{"replicas": {"type": "integer", "minimum": 1}, "image": {"type": "string"}}""", """{"replicas": 0}""", "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1\nspec.image: Required value" },
    };

    private const string ListMap = """{"inputs": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {"name": {"type": "string"}, "uri": {"type": "string"}}}}}""";

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Keyword(string name, string specProperties, string spec, string expected)
    {
        var required = name.StartsWith("required", StringComparison.Ordinal) || name == "several errors" ? "\"required\": [\"image\"]" : "";
        var result = await fixture.Validator.ValidateAsync(SpecSchema(specProperties, required), Object(spec), null, validateStatus: false);
        var want = expected.Length == 0 ? [] : expected.Split('\n');
        Assert.Equal(want, Messages(result));
    }

    [Fact]
    public async Task Field_errors_carry_the_status_cause_reason_and_message()
    {
        var result = await fixture.Validator.ValidateAsync(SpecSchema(Backend), Object("""{"backend": "Foo"}"""), null, false);
        var error = Assert.Single(result.Errors);
        Assert.Equal("FieldValueNotSupported", error.Reason);
        Assert.Equal("spec.backend", error.Field);
        Assert.Equal("Unsupported value: \"Foo\": supported values: \"InCluster\", \"SageMaker\", \"Local\"", error.Message);
    }
}
