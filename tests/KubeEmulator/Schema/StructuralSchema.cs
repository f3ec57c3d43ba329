using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Schema;

/// <summary>One `x-kubernetes-validations` entry.</summary>
/// <param name="Rule">The CEL expression that must evaluate to true.</param>
/// <param name="Message">The fixed message shown on failure (empty: `failed rule: &lt;rule&gt;`).</param>
/// <param name="MessageExpression">A CEL expression producing the failure message.</param>
/// <param name="Reason">FieldValueInvalid (default), FieldValueForbidden, FieldValueRequired or FieldValueDuplicate.</param>
/// <param name="FieldPath">A path relative to the node (e.g. `.spec.image`) where the error is reported.</param>
/// <param name="OptionalOldSelf">Whether the rule also runs without an old value, with `oldSelf` as an optional.</param>
/// <param name="UsesOldSelf">Whether the rule is a transition rule (references `oldSelf`).</param>
internal sealed record ValidationRule(string Rule, string Message, string? MessageExpression, string? Reason, string? FieldPath,
    bool OptionalOldSelf, bool UsesOldSelf);

/// <summary>A parsed node of a structural openAPIV3Schema, cached per schema object.</summary>
/// <remarks>Structural schemas: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema</remarks>
internal sealed class StructuralSchema
{
    private static readonly ConditionalWeakTable<JsonObject, StructuralSchema> Cache = [];
    private static readonly Regex OldSelfReference = new(@"(?<![\w.])oldSelf\b", RegexOptions.CultureInvariant);

    public string? Type { get; private init; }
    public string? Format { get; private init; }
    public bool Nullable { get; private init; }
    public bool PreserveUnknownFields { get; private init; }
    public bool IntOrString { get; private init; }
    public bool EmbeddedResource { get; private init; }
    public IReadOnlyDictionary<string, StructuralSchema> Properties { get; private init; } = new Dictionary<string, StructuralSchema>();
    public StructuralSchema? AdditionalProperties { get; private init; }
    public StructuralSchema? Items { get; private init; }
    public JsonNode? Default { get; private init; }
    public bool HasDefault { get; private init; }
    public double? Minimum { get; private init; }
    public double? Maximum { get; private init; }
    public bool ExclusiveMinimum { get; private init; }
    public bool ExclusiveMaximum { get; private init; }
    public double? MultipleOf { get; private init; }
    public long? MinLength { get; private init; }
    public long? MaxLength { get; private init; }
    public long? MinItems { get; private init; }
    public long? MaxItems { get; private init; }
    public long? MinProperties { get; private init; }
    public long? MaxProperties { get; private init; }
    public string? Pattern { get; private init; }
    public Regex? PatternRegex { get; private init; }
    public JsonArray? Enum { get; private init; }
    public IReadOnlyList<string> Required { get; private init; } = [];
    public string? ListType { get; private init; }
    public IReadOnlyList<string> ListMapKeys { get; private init; } = [];
    public IReadOnlyList<ValidationRule> Rules { get; private init; } = [];
    public IReadOnlyList<StructuralSchema> AllOf { get; private init; } = [];
    public IReadOnlyList<StructuralSchema> AnyOf { get; private init; } = [];
    public IReadOnlyList<StructuralSchema> OneOf { get; private init; } = [];
    public StructuralSchema? Not { get; private init; }

    /// <summary>Whether this node or any node below it carries CEL rules.</summary>
    public bool HasRulesBelow { get; private init; }

    /// <summary>The type name the apiserver reports as the bad value of a failed CEL rule.</summary>
    public string TypeName => Type ?? "";

    public static StructuralSchema Of(JsonObject schema) => Cache.GetValue(schema, s => Parse(s));

    private static StructuralSchema Parse(JsonObject o)
    {
        var properties = new Dictionary<string, StructuralSchema>(StringComparer.Ordinal);
        if (o["properties"] is JsonObject props)
        {
            foreach (var (name, value) in props)
            {
                if (value is JsonObject child)
                {
                    properties[name] = Parse(child);
                }
            }
        }

        var additional = o["additionalProperties"] as JsonObject is { } ap ? Parse(ap) : null;
        var items = o["items"] as JsonObject is { } it ? Parse(it) : null;
        var pattern = o["pattern"]?.GetValue<string>();
        var rules = ParseRules(o["x-kubernetes-validations"] as JsonArray);
        var allOf = ParseList(o["allOf"]);
        var anyOf = ParseList(o["anyOf"]);
        var oneOf = ParseList(o["oneOf"]);
        var not = o["not"] as JsonObject is { } n ? Parse(n) : null;

        return new StructuralSchema
        {
            Type = o["type"]?.GetValue<string>(),
            Format = o["format"]?.GetValue<string>(),
            Nullable = Bool(o, "nullable"),
            PreserveUnknownFields = Bool(o, "x-kubernetes-preserve-unknown-fields"),
            IntOrString = Bool(o, "x-kubernetes-int-or-string"),
            EmbeddedResource = Bool(o, "x-kubernetes-embedded-resource"),
            Properties = properties,
            AdditionalProperties = additional,
            Items = items,
            HasDefault = o.ContainsKey("default"),
            Default = o["default"]?.DeepClone(),
            Minimum = Number(o, "minimum"),
            Maximum = Number(o, "maximum"),
            ExclusiveMinimum = Bool(o, "exclusiveMinimum"),
            ExclusiveMaximum = Bool(o, "exclusiveMaximum"),
            MultipleOf = Number(o, "multipleOf"),
            MinLength = Integer(o, "minLength"),
            MaxLength = Integer(o, "maxLength"),
            MinItems = Integer(o, "minItems"),
            MaxItems = Integer(o, "maxItems"),
            MinProperties = Integer(o, "minProperties"),
            MaxProperties = Integer(o, "maxProperties"),
            Pattern = pattern,
            PatternRegex = pattern is null ? null : EcmaPattern.Compile(pattern),
            Enum = o["enum"] as JsonArray,
            Required = (o["required"] as JsonArray)?.Select(r => r!.GetValue<string>()).ToList() ?? [],
            ListType = o["x-kubernetes-list-type"]?.GetValue<string>(),
            ListMapKeys = (o["x-kubernetes-list-map-keys"] as JsonArray)?.Select(r => r!.GetValue<string>()).ToList() ?? [],
            Rules = rules,
            AllOf = allOf,
            AnyOf = anyOf,
            OneOf = oneOf,
            Not = not,
            HasRulesBelow = rules.Count > 0
                || properties.Values.Any(p => p.HasRulesBelow)
                || additional?.HasRulesBelow == true
                || items?.HasRulesBelow == true,
        };
    }

    private static List<StructuralSchema> ParseList(JsonNode? node) =>
        node is JsonArray a ? [.. a.OfType<JsonObject>().Select(Parse)] : [];

    private static List<ValidationRule> ParseRules(JsonArray? rules)
    {
        if (rules is null)
        {
            return [];
        }

        var result = new List<ValidationRule>();
        foreach (var r in rules.OfType<JsonObject>())
        {
            var rule = r["rule"]?.GetValue<string>() ?? "";
            result.Add(new ValidationRule(
                rule,
                r["message"]?.GetValue<string>() ?? "",
                r["messageExpression"]?.GetValue<string>(),
                r["reason"]?.GetValue<string>(),
                r["fieldPath"]?.GetValue<string>(),
                Bool(r, "optionalOldSelf"),
                OldSelfReference.IsMatch(rule)));
        }

        return result;
    }

    private static bool Bool(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static double? Number(JsonObject o, string name) => o[name] is JsonValue v ? JsonValues.AsDouble(v) : null;

    private static long? Integer(JsonObject o, string name) =>
        o[name] is JsonValue v && JsonValues.TryGetInteger(v, out var l) ? l : null;
}
