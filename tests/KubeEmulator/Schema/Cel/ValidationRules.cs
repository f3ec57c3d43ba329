using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Schema.Cel;

/// <summary>Evaluates `x-kubernetes-validations` over an object: collects every applicable rule, evaluates them in one
/// round-trip to the CEL process, and turns failures into field errors worded as the apiserver words them.</summary>
/// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules</remarks>
internal static partial class ValidationRules
{
    /// <param name="Ratcheted">The node (or, when it does not correlate, its nearest correlating ancestor) equals its
    /// old value, so failures of rules that do not use oldSelf are not reported (validation ratcheting).</param>
    private sealed record PendingNode(string Path, StructuralSchema Schema, List<ValidationRule> Rules, bool Ratcheted);

    public static async Task EvaluateAsync(CelProcess cel, JsonObject newObject, JsonObject? oldObject, StructuralSchema schema,
        bool validateStatus, List<FieldError> errors, CancellationToken cancellationToken)
    {
        if (!schema.HasRulesBelow)
        {
            return;
        }

        var pending = new List<PendingNode>();
        var requestNodes = new JsonArray();
        Collect(newObject, Correlation.Of(oldObject), parentUnchanged: false, schema, "", isRoot: true, validateStatus, pending, requestNodes);
        if (pending.Count == 0)
        {
            return;
        }

        var response = await cel.SendAsync(new JsonObject { ["nodes"] = requestNodes }, cancellationToken).ConfigureAwait(false);
        var results = response["results"] as JsonArray
            ?? throw new InvalidOperationException("The CEL evaluator answered without results: " + response.ToJsonString());
        for (var n = 0; n < pending.Count; n++)
        {
            var node = pending[n];
            var ruleResults = (JsonArray)results[n]!;
            for (var r = 0; r < node.Rules.Count; r++)
            {
                if (ToError(node, node.Rules[r], (JsonObject)ruleResults[r]!) is { } error)
                {
                    errors.Add(error);
                }
            }
        }
    }

    private static void Collect(JsonNode? value, Correlation correlation, bool parentUnchanged, StructuralSchema schema, string path, bool isRoot,
        bool validateStatus, List<PendingNode> pending, JsonArray requestNodes)
    {
        if (JsonValues.IsNull(value) || !schema.HasRulesBelow)
        {
            return;
        }

        var oldValue = correlation.Old;
        var hasOld = correlation.Exists && !JsonValues.IsNull(oldValue);
        var unchanged = correlation.Exists ? correlation.Unchanged(value) : parentUnchanged;
        if (schema.Rules.Count > 0)
        {
            // Transition rules run only when an old value correlates, unless optionalOldSelf makes oldSelf an optional.
            var rules = schema.Rules.Where(r => r.Rule.Trim().Length > 0 && (!r.UsesOldSelf || hasOld || r.OptionalOldSelf)).ToList();
            if (rules.Count > 0)
            {
                var request = new JsonObject { ["self"] = CelValues.Encode(value, schema, isRoot) };
                // oldSelf travels only when a rule or its message can read it.
                if (hasOld && rules.Any(r => r.UsesOldSelf || r.MessageExpression?.Contains("oldSelf", StringComparison.Ordinal) == true))
                {
                    request["oldSelf"] = CelValues.Encode(oldValue, schema, isRoot);
                }

                var ruleArray = new JsonArray();
                foreach (var rule in rules)
                {
                    var entry = new JsonObject { ["rule"] = rule.Rule, ["optionalOldSelf"] = rule.OptionalOldSelf };
                    if (!string.IsNullOrWhiteSpace(rule.MessageExpression))
                    {
                        entry["messageExpression"] = rule.MessageExpression;
                    }

                    ruleArray.Add(entry);
                }

                request["rules"] = ruleArray;
                requestNodes.Add(request);
                pending.Add(new PendingNode(path, schema, rules, unchanged));
            }
        }

        switch (value)
        {
            case JsonObject o:
                foreach (var (key, child) in o)
                {
                    if (isRoot && key == "status" && !validateStatus)
                    {
                        continue;
                    }

                    // apiVersion and kind do not correlate at the root (both sides are converted to the same version).
                    var childCorrelation = isRoot && key is "apiVersion" or "kind" ? Correlation.None : correlation.Key(key);
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Collect(child, childCorrelation, unchanged, property, FieldPath.Child(path, key), false, validateStatus, pending, requestNodes);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        Collect(child, childCorrelation, unchanged, additional, FieldPath.Key(path, key), false, validateStatus, pending, requestNodes);
                    }
                }

                break;
            case JsonArray a when schema.Items is { } items:
                for (var i = 0; i < a.Count; i++)
                {
                    // Only list-type=map items correlate with old items (by their keys); atomic and set lists do not.
                    Collect(a[i], correlation.Item(a[i], schema), unchanged, items, FieldPath.Index(path, i), false, validateStatus, pending, requestNodes);
                }

                break;
        }
    }

    private static FieldError? ToError(PendingNode node, ValidationRule rule, JsonObject result)
    {
        var outcome = result["outcome"]?.GetValue<string>();
        var detail = result["detail"]?.GetValue<string>() ?? "";
        var typeName = JsonValue.Create(node.Schema.TypeName);
        switch (outcome)
        {
            case "pass":
                return null;
            case "compileError":
                return new FieldError(FieldErrorType.Invalid, FieldPath.Display(node.Path), typeName, $"rule compile error: compilation failed: {detail}");
            case "overload":
                return new FieldError(FieldErrorType.Invalid, FieldPath.Display(node.Path), typeName,
                    $"'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {RuleErrorString(rule)}");
            case "error":
                return new FieldError(FieldErrorType.Invalid, FieldPath.Display(node.Path), typeName, $"{detail} evaluating rule: {RuleErrorString(rule)}");
            case "fail" when node.Ratcheted && !rule.UsesOldSelf:
                return null;
            case "fail":
                var path = string.IsNullOrEmpty(rule.FieldPath) ? node.Path : FieldPath.Child(node.Path, NormalizeFieldPath(rule.FieldPath, node.Schema));
                var message = MessageOrDefault(rule);
                if (result["message"] is JsonValue m && m.GetValueKind() == JsonValueKind.String)
                {
                    // A messageExpression that yields an empty or multi-line string falls back to the rule's message.
                    var evaluated = m.GetValue<string>().Trim();
                    if (evaluated.Length > 0 && !evaluated.Contains('\n') && !evaluated.Contains('\r'))
                    {
                        message = evaluated;
                    }
                }

                return ForReason(rule.Reason, FieldPath.Display(path), typeName, message);
            default:
                throw new InvalidOperationException("Unexpected CEL result: " + result.ToJsonString());
        }
    }

    private static FieldError ForReason(string? reason, string path, JsonNode typeName, string detail) => reason switch
    {
        "FieldValueForbidden" => new FieldError(FieldErrorType.Forbidden, path, null, detail),
        "FieldValueRequired" => new FieldError(FieldErrorType.Required, path, null, detail),
        "FieldValueDuplicate" => new FieldError(FieldErrorType.Duplicate, path, typeName, ""),
        _ => new FieldError(FieldErrorType.Invalid, path, typeName, detail),
    };

    private static string RuleErrorString(ValidationRule rule) =>
        rule.Message.Length > 0 ? rule.Message.Trim() : rule.Rule.Trim();

    private static string MessageOrDefault(ValidationRule rule) =>
        rule.Message.Length > 0 ? rule.Message.Trim() : "failed rule: " + RuleErrorString(rule);

    /// <summary>Turns a rule's `fieldPath` (`.spec.image`, `.env['KEY']`) into a field name relative to the node.</summary>
    internal static string NormalizeFieldPath(string fieldPath, StructuralSchema schema)
    {
        var result = "";
        StructuralSchema? current = schema;
        foreach (Match segment in FieldPathSegment().Matches(fieldPath))
        {
            var name = segment.Groups["dot"].Success ? segment.Groups["dot"].Value
                : segment.Groups["sq"].Success ? segment.Groups["sq"].Value
                : segment.Groups["dq"].Value;
            if (current?.Properties.TryGetValue(name, out var property) == true)
            {
                result = FieldPath.Child(result, name);
                current = property;
            }
            else if (current?.AdditionalProperties is { } additional)
            {
                result = FieldPath.Key(result, name);
                current = additional;
            }
            else
            {
                result = FieldPath.Child(result, name);
                current = null;
            }
        }

        return result;
    }

    [GeneratedRegex(@"\.(?<dot>[^.\[]+)|\['(?<sq>[^']*)'\]|\[""(?<dq>[^""]*)""\]")]
    private static partial Regex FieldPathSegment();
}
