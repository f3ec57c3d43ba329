using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Schema;
using Xunit.Abstractions;
using static Ferry.KubeEmulator.Tests.Schema.SchemaFixtures;

namespace Ferry.KubeEmulator.Tests.Schema;

/// <summary>`x-kubernetes-validations` rules evaluated by the real CEL engine, with the apiserver's messages.</summary>
public sealed class ValidationRuleTests(ValidatorFixture fixture, ITestOutputHelper output) : IClassFixture<ValidatorFixture>
{
    private readonly CustomResourceValidator _validator = fixture.Validator;

    private static string Rules(params string[] rules) => "\"x-kubernetes-validations\": [" + string.Join(",", rules) + "]";

    private const string Spec = """
        {
          "image": {"type": "string"},
          "replicas": {"type": "integer"},
          "rate": {"type": "number"},
          "backend": {"type": "string"},
          "suspend": {"type": "boolean"},
          "args": {"type": "array", "items": {"type": "string"}},
          "env": {"type": "object", "additionalProperties": {"type": "string"}},
          "x-y": {"type": "string"}
        }
        """;

    private async Task<string[]> SpecErrors(string rule, string spec, string? oldSpec = null)
    {
        var result = await _validator.ValidateAsync(SpecSchema(Spec, Rules(rule)), Object(spec), oldSpec is null ? null : Object(oldSpec), false);
        return Messages(result);
    }

    public static TheoryData<string, string> TrueExpressions => new()
    {
        // CEL standard macros, functions and the Kubernetes library functions the validator supports.
        { "has", "has(self.image) && !has(self.backend)" },
        { "all", "self.args.all(a, a.startsWith('--'))" },
        { "exists", "self.args.exists(a, a == '--lr')" },
        { "exists_one", "self.args.exists_one(a, a.endsWith('lr'))" },
        { "map", "self.args.map(a, size(a)) == [4, 8]" },
        { "filter", "self.args.filter(a, a.contains('epoch')).size() == 1" },
        { "size", "size(self.args) == 2 && self.image.size() == 10" },
        { "matches", "self.image.matches('^trainer:[0-9]+$')" },
        { "in list", "'--lr' in self.args" },
        { "in map", "'FOO' in self.env && !('BAR' in self.env)" },
        { "ternary", "(self.replicas > 2 ? 'many' : 'few') == 'many'" },
        { "int conversion", "int('3') == self.replicas" },
        { "string conversion", "string(self.replicas) == '3'" },
        { "double", "self.rate == 0.5 && double(self.replicas) == 3.0" },
        { "escaped property name", "self.x__dash__y == 'z'" },
        { "map value", "self.env.FOO == 'bar' && self.env['FOO'] == 'bar'" },
        { "lowerAscii", "self.image.upperAscii().lowerAscii() == self.image" },
        { "indexOf", "self.image.indexOf(':') == 7" },
        { "split and join", "self.image.split(':').join('/') == 'trainer/12'" },
        { "isSorted", "self.args.map(a, size(a)).isSorted() && !self.args.isSorted()" },
        { "list indexOf", "self.args.indexOf('--lr') == 0" },
        { "sum min max", "[1, 2, 3].sum() == 6 && [3, 1].min() == 1 && [3, 1].max() == 3" },
        { "regex find", "self.image.find('[0-9]+') == '12' && 'a1b22'.findAll('[0-9]+') == ['1', '22']" },
        { "optional", "optional.of(1).hasValue() && !optional.none().hasValue() && optional.none().orValue(2) == 2" },
    };

    [Theory]
    [MemberData(nameof(TrueExpressions))]
    public async Task Expressions_evaluate_with_cel_semantics(string name, string expression)
    {
        const string spec = """{"image": "trainer:12", "replicas": 3, "rate": 0.5, "args": ["--lr", "--epochs"], "env": {"FOO": "bar"}, "x-y": "z"}""";
        Assert.Empty(await SpecErrors($$"""{"rule": {{JsonValue.Create(expression).ToJsonString()}}}""", spec));
        // The negation must fail, so the rule really ran.
        var negated = JsonValue.Create($"!({expression})").ToJsonString();
        Assert.Equal([$"spec: Invalid value: \"object\": {name} is false"],
            await SpecErrors($$"""{"rule": {{negated}}, "message": "{{name}} is false"}""", spec));
    }

    [Fact]
    public async Task Formatted_strings_are_timestamps_durations_and_bytes()
    {
        var schema = SpecSchema("""
            {
              "at": {"type": "string", "format": "date-time"},
              "day": {"type": "string", "format": "date"},
              "timeout": {"type": "string", "format": "duration"},
              "blob": {"type": "string", "format": "byte"}
            }
            """, Rules("""{"rule": "self.at.getFullYear() == 2024 && self.at < timestamp('2030-01-01T00:00:00Z') && self.day == timestamp('2024-05-01T00:00:00Z') && self.timeout == duration('90m') && size(self.blob) == 5", "message": "typed"}"""));
        var ok = await _validator.ValidateAsync(schema, Object("""{"at": "2024-05-01T10:00:00.5Z", "day": "2024-05-01", "timeout": "1h30m", "blob": "aGVsbG8="}"""), null, false);
        Assert.Empty(ok.Errors);
        var bad = await _validator.ValidateAsync(schema, Object("""{"at": "2031-05-01T10:00:00Z", "day": "2024-05-01", "timeout": "1h30m", "blob": "aGVsbG8="}"""), null, false);
        Assert.Equal(["spec: Invalid value: \"object\": typed"], Messages(bad));
    }

    [Fact]
    public async Task A_failed_rule_prints_its_message_at_the_node()
    {
        Assert.Equal(["spec: Invalid value: \"object\": replicas must be even"],
            await SpecErrors("""{"rule": "self.replicas % 2 == 0", "message": "replicas must be even"}""", """{"replicas": 3}"""));
    }

    [Fact]
    public async Task Without_a_message_the_rule_text_is_printed()
    {
        Assert.Equal(["spec: Invalid value: \"object\": failed rule: self.replicas % 2 == 0"],
            await SpecErrors("""{"rule": "self.replicas % 2 == 0"}""", """{"replicas": 3}"""));
    }

    [Fact]
    public async Task MessageExpression_builds_the_message()
    {
        Assert.Equal(["spec: Invalid value: \"object\": replicas is 3, must be even"],
            await SpecErrors("""{"rule": "self.replicas % 2 == 0", "message": "fixed", "messageExpression": "'replicas is ' + string(self.replicas) + ', must be even'"}""", """{"replicas": 3}"""));
    }

    [Fact]
    public async Task A_failing_messageExpression_falls_back_to_the_message()
    {
        Assert.Equal(["spec: Invalid value: \"object\": fixed"],
            await SpecErrors("""{"rule": "self.replicas % 2 == 0", "message": "fixed", "messageExpression": "'x' + self.nothing"}""", """{"replicas": 3}"""));
    }

    [Theory]
    [InlineData("\".replicas\"", "spec.replicas: Invalid value: \"object\": bad")]
    [InlineData("\".env['FOO']\"", "spec.env[FOO]: Invalid value: \"object\": bad")]
    public async Task FieldPath_moves_the_error_to_the_named_field(string fieldPath, string expected)
    {
        Assert.Equal([expected], await SpecErrors($$"""{"rule": "false", "message": "bad", "fieldPath": {{fieldPath}}}""", """{"replicas": 3, "env": {"FOO": "x"}}"""));
    }

    [Theory]
    [InlineData("FieldValueForbidden", "spec: Forbidden: bad")]
    [InlineData("FieldValueRequired", "spec: Required value: bad")]
    [InlineData("FieldValueDuplicate", "spec: Duplicate value: \"object\"")]
    [InlineData("FieldValueInvalid", "spec: Invalid value: \"object\": bad")]
    public async Task Reason_selects_the_error_type(string reason, string expected)
    {
        var result = await _validator.ValidateAsync(SpecSchema(Spec, Rules($$"""{"rule": "false", "message": "bad", "reason": "{{reason}}"}""")), Object("{}"), null, false);
        var error = Assert.Single(result.Errors);
        Assert.Equal(expected, error.ToString());
        Assert.Equal(reason, error.Reason);
    }

    [Fact]
    public async Task A_rule_on_a_scalar_reports_the_scalar_type()
    {
        var schema = SpecSchema("""{"image": {"type": "string", "x-kubernetes-validations": [{"rule": "self.contains(':')", "message": "image needs a tag"}]}}""");
        var result = await _validator.ValidateAsync(schema, Object("""{"image": "trainer"}"""), null, false);
        Assert.Equal(["spec.image: Invalid value: \"string\": image needs a tag"], Messages(result));
    }

    [Fact]
    public async Task An_evaluation_error_is_reported_like_the_apiserver()
    {
        Assert.Equal(["spec: Invalid value: \"object\": no such key: backend evaluating rule: self.backend == 'Local'"],
            await SpecErrors("""{"rule": "self.backend == 'Local'"}""", "{}"));
    }

    [Fact]
    public async Task A_rule_that_does_not_compile_is_reported()
    {
        var errors = await SpecErrors("""{"rule": "self.replicas >"}""", """{"replicas": 1}""");
        Assert.StartsWith("spec: Invalid value: \"object\": rule compile error: compilation failed: ", Assert.Single(errors));
    }

    private const string ImmutableImage = """{"rule": "self.image == oldSelf.image", "message": "image is immutable"}""";

    [Fact]
    public async Task Transition_rules_run_on_update()
    {
        Assert.Equal(["spec: Invalid value: \"object\": image is immutable"], await SpecErrors(ImmutableImage, """{"image": "b"}""", """{"image": "a"}"""));
        Assert.Empty(await SpecErrors(ImmutableImage, """{"image": "a"}""", """{"image": "a"}"""));
    }

    [Fact]
    public async Task Transition_rules_are_skipped_on_create()
    {
        Assert.Empty(await SpecErrors(ImmutableImage, """{"image": "b"}"""));
    }

    [Fact]
    public async Task OptionalOldSelf_runs_on_create_with_an_empty_optional()
    {
        const string rule = """{"rule": "oldSelf.hasValue() ? self.replicas >= oldSelf.value().replicas : self.replicas == 1", "optionalOldSelf": true, "message": "start at 1, never shrink"}""";
        Assert.Equal(["spec: Invalid value: \"object\": start at 1, never shrink"], await SpecErrors(rule, """{"replicas": 2}"""));
        Assert.Empty(await SpecErrors(rule, """{"replicas": 1}"""));
        Assert.Empty(await SpecErrors(rule, """{"replicas": 3}""", """{"replicas": 2}"""));
        Assert.Equal(["spec: Invalid value: \"object\": start at 1, never shrink"], await SpecErrors(rule, """{"replicas": 2}""", """{"replicas": 3}"""));
    }

    private const string ListSchema = """
        {
          "inputs": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {
              "type": "object",
              "properties": {"name": {"type": "string"}, "uri": {"type": "string"}},
              "x-kubernetes-validations": [
                {"rule": "self.uri.startsWith('s3://')", "message": "uri must start with s3://"},
                {"rule": "self.uri == oldSelf.uri", "message": "uri is immutable"}
              ]
            }
          },
          "tags": {
            "type": "array",
            "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "atomic items never see oldSelf"}]}
          }
        }
        """;

    [Fact]
    public async Task Rules_in_list_items_report_the_item_index()
    {
        var result = await _validator.ValidateAsync(SpecSchema(ListSchema),
            Object("""{"inputs": [{"name": "a", "uri": "s3://a"}, {"name": "b", "uri": "file:///b"}]}"""), null, false);
        Assert.Equal(["spec.inputs[1]: Invalid value: \"object\": uri must start with s3://"], Messages(result));
    }

    [Fact]
    public async Task List_map_items_correlate_with_old_items_by_key()
    {
        var result = await _validator.ValidateAsync(SpecSchema(ListSchema),
            Object("""{"inputs": [{"name": "new", "uri": "s3://n"}, {"name": "a", "uri": "s3://changed"}], "tags": ["y"]}"""),
            Object("""{"inputs": [{"name": "a", "uri": "s3://a"}], "tags": ["x"]}"""), false);
        // Only item "a" has an old value; the new item and the atomic list's items are not transition-checked.
        Assert.Equal(["spec.inputs[1]: Invalid value: \"object\": uri is immutable"], Messages(result));
    }

    [Fact]
    public async Task Status_rules_run_only_for_status_writes()
    {
        var schema = SpecSchema(Spec, rootExtra: Rules("""{"rule": "!has(self.status) || self.status.phase != 'Bogus'", "message": "root rule"}"""));
        schema["properties"]!["status"] = JsonNode.Parse("""
            {"type": "object", "properties": {"phase": {"type": "string"}},
             "x-kubernetes-validations": [{"rule": "self.phase != 'Bogus'", "message": "bad phase"}]}
            """);
        var obj = Object("{}", status: """{"phase": "Bogus"}""");

        var main = await _validator.ValidateAsync(schema, obj, null, validateStatus: false);
        Assert.Equal(["<nil>: Invalid value: \"object\": root rule"], Messages(main));
        var status = await _validator.ValidateAsync(schema, obj, null, validateStatus: true);
        Assert.Equal(["<nil>: Invalid value: \"object\": root rule", "status: Invalid value: \"object\": bad phase"], Messages(status));
    }

    [Fact]
    public async Task Root_rules_see_metadata_name_only()
    {
        var schema = SpecSchema(Spec, rootExtra: Rules("""{"rule": "self.metadata.name.startsWith('tj-') && !has(self.metadata.namespace)", "message": "name must start with tj-"}"""));
        Assert.Empty(Messages(await _validator.ValidateAsync(schema, Object("{}", name: "tj-a"), null, false)));
        Assert.Single(Messages(await _validator.ValidateAsync(schema, Object("{}", name: "other"), null, false)));
    }

    [Fact]
    public async Task Blocking_schema_errors_skip_the_rules()
    {
        var schema = SpecSchema("""{"replicas": {"type": "integer"}}""", Rules("""{"rule": "false", "message": "never shown"}"""));
        var result = await _validator.ValidateAsync(schema, Object("""{"replicas": "x"}"""), null, false);
        Assert.Equal([
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            "<nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ], Messages(result));
    }

    [Fact]
    public async Task Thirty_rules_validate_well_under_five_milliseconds_after_warm_up()
    {
        var rules = Enumerable.Range(0, 30).Select(i => $$"""{"rule": "self.replicas + {{i}} > {{i - 1}} && self.args.all(a, size(a) < 100)", "message": "rule {{i}}"}""");
        var schema = SpecSchema(Spec, Rules([.. rules]));
        var obj = Object("""{"image": "trainer:1", "replicas": 2, "args": ["--a", "--b", "--c"], "env": {"A": "1"}}""");
        for (var i = 0; i < 20; i++)
        {
            Assert.Empty((await _validator.ValidateAsync(schema, obj, null, false)).Errors);
        }

        // The fastest of many calls: the machine is shared (builds of other projects run alongside), and their bursts
        // are not the validator's cost.
        var perCall = double.MaxValue;
        for (var i = 0; i < 200; i++)
        {
            var watch = Stopwatch.StartNew();
            await _validator.ValidateAsync(schema, obj, null, false);
            perCall = Math.Min(perCall, watch.Elapsed.TotalMilliseconds);
        }

        output.WriteLine($"30 rules: {perCall:F3} ms per object");
        Assert.True(perCall < 5, $"validation took {perCall:F2} ms per object");
    }
}
