using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.Operator.Cli.Run;

/// <summary>
/// Validates a TrainingJob manifest as the API server would on create, against the CRD's schema (generated from
/// the attributes on the types in src/Crds): unknown fields (kubectl's strict field validation), defaults, the
/// OpenAPI keywords and the CEL rules (through their <see cref="CelRuleTwins"/>), with the API server's messages.
/// </summary>
public static partial class ManifestValidator
{
    private const string NotCheckedDetail =
        "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

    /// <summary>The outcome: the defaulted object, and every error (empty when valid).</summary>
    public sealed record Result(JsonObject Object, IReadOnlyList<ApiFieldError> Errors, IReadOnlyList<string> UnknownFields);

    /// <summary>Validates a copy of <paramref name="manifest"/> against <paramref name="schema"/> (the version's openAPIV3Schema).</summary>
    public static Result Validate(JsonObject manifest, JsonObject schema)
    {
        var copy = (JsonObject)manifest.DeepClone();
        var unknown = new List<string>();
        FindUnknownFields(copy, schema, "", unknown);
        ApplyDefaults(copy, schema);

        var errors = new List<ApiFieldError>();
        ValidateMetadataName(copy, errors);
        Validate(copy, schema, "", errors);
        if (errors.Any(IsBlocking))
        {
            if (HasRules(schema))
            {
                // The API server does not evaluate CEL over an object whose shape is already wrong.
                errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, "<nil>", null, NotCheckedDetail));
            }
        }
        else
        {
            EvaluateRules(copy, schema, "", errors);
        }

        return new Result(copy, errors, unknown);
    }

    private static bool IsBlocking(ApiFieldError error) => error.Type is ApiFieldErrorType.NotSupported or ApiFieldErrorType.Required
        or ApiFieldErrorType.TooLong or ApiFieldErrorType.TooMany or ApiFieldErrorType.TypeInvalid;

    private static string Child(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static string Display(string path) => path.Length == 0 ? "<nil>" : path;

    private static JsonObject? Properties(JsonObject schema) => schema["properties"] as JsonObject;

    private static JsonObject? PropertySchema(JsonObject schema, string name) => Properties(schema)?[name] as JsonObject;

    private static JsonObject? AdditionalProperties(JsonObject schema) => schema["additionalProperties"] as JsonObject;

    private static string? Keyword(JsonObject schema, string name) =>
        schema[name] is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

    private static double? NumberKeyword(JsonObject schema, string name) =>
        schema[name] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? ToDouble(v) : null;

    private static double ToDouble(JsonValue value) => double.Parse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static bool IsEmbeddedObject(JsonObject schema) =>
        Keyword(schema, "type") == "object" && Properties(schema) is null && AdditionalProperties(schema) is null;

    // metadata's schema is a bare object: the API server validates it by ObjectMeta's own rules.
    private static void FindUnknownFields(JsonNode? node, JsonObject schema, string path, List<string> unknown)
    {
        switch (node)
        {
            case JsonObject o when !IsEmbeddedObject(schema):
                var pruned = new List<string>();
                foreach (var (key, value) in o)
                {
                    if (PropertySchema(schema, key) is { } property)
                    {
                        FindUnknownFields(value, property, Child(path, key), unknown);
                    }
                    else if (AdditionalProperties(schema) is { } additional)
                    {
                        FindUnknownFields(value, additional, Child(path, key), unknown);
                    }
                    else
                    {
                        unknown.Add(Child(path, key));
                        pruned.Add(key);
                    }
                }

                // The API server prunes unknown fields before it defaults and validates.
                pruned.ForEach(key => o.Remove(key));
                break;
            case JsonArray a when schema["items"] is JsonObject items:
                for (var i = 0; i < a.Count; i++)
                {
                    FindUnknownFields(a[i], items, $"{path}[{i}]", unknown);
                }

                break;
        }
    }

    private static void ApplyDefaults(JsonNode? node, JsonObject schema)
    {
        switch (node)
        {
            case JsonObject o when Properties(schema) is { } properties:
                foreach (var (name, propertyNode) in properties)
                {
                    var property = (JsonObject)propertyNode!;
                    if (o[name] is null)
                    {
                        if (property["default"] is { } defaultValue)
                        {
                            o[name] = defaultValue.DeepClone();
                        }
                        else
                        {
                            // Nulls are pruned: CEL's has() is false for them.
                            o.Remove(name);
                        }
                    }
                }

                foreach (var (name, value) in o.ToList())
                {
                    if (PropertySchema(schema, name) is { } property)
                    {
                        ApplyDefaults(value, property);
                    }
                }

                break;
            case JsonObject o when AdditionalProperties(schema) is { } additional:
                foreach (var (_, value) in o.ToList())
                {
                    ApplyDefaults(value, additional);
                }

                break;
            case JsonArray a when schema["items"] is JsonObject items:
                foreach (var item in a)
                {
                    ApplyDefaults(item, items);
                }

                break;
        }
    }

    private static void ValidateMetadataName(JsonObject root, List<ApiFieldError> errors)
    {
        var name = root["metadata"] is JsonObject metadata && metadata["name"] is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
        if (string.IsNullOrEmpty(name))
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Required, "metadata.name", null, "name or generateName is required"));
        }
        else if (name.Length > 253 || !Rfc1123Subdomain().IsMatch(name))
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, "metadata.name", JsonValue.Create(name),
                name.Length > 253
                    ? "must be no more than 253 characters"
                    : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
        }
    }

    private static void Validate(JsonNode? node, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        var expected = schema["x-kubernetes-int-or-string"] is JsonValue ios && ios.GetValueKind() == JsonValueKind.True
            ? "integer,string"
            : Keyword(schema, "type");
        if (node is null)
        {
            if (!string.IsNullOrEmpty(expected))
            {
                errors.Add(TypeError(path, expected, "null"));
            }

            return;
        }

        if (!string.IsNullOrEmpty(expected) && !TypeMatches(node, expected))
        {
            errors.Add(TypeError(path, expected, TypeName(node)));
            CheckEnum(node, schema, path, errors);
            return;
        }

        switch (node)
        {
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                ValidateString(v.GetValue<string>(), schema, path, errors);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                ValidateNumber(v, schema, path, errors);
                break;
            case JsonArray array:
                ValidateArray(array, schema, path, errors);
                break;
        }

        CheckEnum(node, schema, path, errors);
        if (node is JsonObject o && !IsEmbeddedObject(schema))
        {
            ValidateObject(o, schema, path, errors);
        }
    }

    private static string TypeName(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => long.TryParse(v.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out _) ? "integer" : "number",
            _ => "null",
        },
        _ => "null",
    };

    private static bool TypeMatches(JsonNode node, string expected)
    {
        var actual = TypeName(node);
        var types = expected.Split(',');
        if (types.Contains(actual))
        {
            return true;
        }

        if (actual == "number" && types.Contains("integer"))
        {
            var d = ToDouble((JsonValue)node);
            return Math.Floor(d) == d && !double.IsInfinity(d);
        }

        return actual == "integer" && types.Contains("number");
    }

    private static ApiFieldError TypeError(string path, string expected, string actual) =>
        new(ApiFieldErrorType.TypeInvalid, Display(path), JsonValue.Create(actual), $"{path} in body must be of type {expected}: {GoText.Quote(actual)}");

    private static void ValidateString(string value, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        var length = value.EnumerateRunes().Count();
        if (NumberKeyword(schema, "maxLength") is { } max && length > max)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.TooLong, Display(path), JsonValue.Create(value),
                $"may not be more than {GoText.Float(max)} {(max == 1 ? "byte" : "bytes")}"));
        }

        if (NumberKeyword(schema, "minLength") is { } min && length < min)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, Display(path), JsonValue.Create(value), $"{path} in body should be at least {GoText.Float(min)} chars long"));
        }

        if (Keyword(schema, "pattern") is { } pattern && !Pattern(pattern).IsMatch(value))
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, Display(path), JsonValue.Create(value), $"{path} in body should match '{pattern}'"));
        }
    }

    private static void ValidateNumber(JsonValue value, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        var d = ToDouble(value);
        if (NumberKeyword(schema, "maximum") is { } max && d > max)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, Display(path), value.DeepClone(), $"{path} in body should be less than or equal to {GoText.Float(max)}"));
        }

        if (NumberKeyword(schema, "minimum") is { } min && d < min)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, Display(path), value.DeepClone(), $"{path} in body should be greater than or equal to {GoText.Float(min)}"));
        }
    }

    private static void ValidateArray(JsonArray array, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        if (NumberKeyword(schema, "minItems") is { } min && array.Count < min)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.Invalid, Display(path), JsonValue.Create(array.Count), $"{path} in body should have at least {GoText.Float(min)} items"));
        }

        if (NumberKeyword(schema, "maxItems") is { } max && array.Count > max)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.TooMany, Display(path), JsonValue.Create(array.Count), MaxItemsDetail(max)));
        }

        if (schema["items"] is JsonObject items)
        {
            for (var i = 0; i < array.Count; i++)
            {
                Validate(array[i], items, $"{path}[{i}]", errors);
            }
        }
    }

    private static string MaxItemsDetail(double max) => $"must have at most {GoText.Float(max)} {(max == 1 ? "item" : "items")}";

    private static void ValidateObject(JsonObject o, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        if (NumberKeyword(schema, "maxProperties") is { } max && o.Count > max)
        {
            errors.Add(new ApiFieldError(ApiFieldErrorType.TooMany, Display(path), JsonValue.Create(o.Count), MaxItemsDetail(max)));
        }

        foreach (var (key, value) in o)
        {
            if (PropertySchema(schema, key) is { } property)
            {
                Validate(value, property, Child(path, key), errors);
            }
            else if (AdditionalProperties(schema) is { } additional)
            {
                Validate(value, additional, Child(path, key), errors);
            }
        }

        if (schema["required"] is JsonArray required)
        {
            foreach (var name in required.Select(r => r!.GetValue<string>()))
            {
                if (!o.ContainsKey(name))
                {
                    errors.Add(new ApiFieldError(ApiFieldErrorType.Required, Child(path, name), null, ""));
                }
            }
        }
    }

    private static void CheckEnum(JsonNode node, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        if (schema["enum"] is not JsonArray { Count: > 0 } values || values.Any(v => JsonNode.DeepEquals(v, node)))
        {
            return;
        }

        var supported = values.Select(v => v is JsonValue s && s.GetValueKind() == JsonValueKind.String ? s.GetValue<string>() : v?.ToJsonString() ?? "null");
        errors.Add(new ApiFieldError(ApiFieldErrorType.NotSupported, Display(path), node.DeepClone(),
            "supported values: " + string.Join(", ", supported.Select(GoText.Quote))));
    }

    private static bool HasRules(JsonObject schema) =>
        schema["x-kubernetes-validations"] is JsonArray { Count: > 0 }
        || (Properties(schema)?.Any(p => HasRules((JsonObject)p.Value!)) ?? false)
        || (schema["items"] is JsonObject items && HasRules(items))
        || (AdditionalProperties(schema) is { } additional && HasRules(additional));

    private static void EvaluateRules(JsonNode? node, JsonObject schema, string path, List<ApiFieldError> errors)
    {
        if (node is null)
        {
            return;
        }

        if (schema["x-kubernetes-validations"] is JsonArray rules)
        {
            foreach (var rule in rules.OfType<JsonObject>())
            {
                var text = Keyword(rule, "rule") ?? "";
                var twin = CelRuleTwins.Find(text)
                    ?? throw new InvalidOperationException($"The CRD's rule at {Display(path)} has no C# twin in {nameof(CelRuleTwins)}: {text}");
                if (twin.IsTransitionRule || twin.Holds(node, null))
                {
                    continue;
                }

                var field = Keyword(rule, "fieldPath") is { } relative ? path + relative : path;
                errors.Add(ForReason(Keyword(rule, "reason"), Display(field), JsonValue.Create(Keyword(schema, "type") ?? ""), twin.Message));
            }
        }

        switch (node)
        {
            case JsonObject o when !IsEmbeddedObject(schema):
                foreach (var (key, value) in o)
                {
                    if (path.Length == 0 && key == "status")
                    {
                        continue;
                    }

                    if (PropertySchema(schema, key) is { } property)
                    {
                        EvaluateRules(value, property, Child(path, key), errors);
                    }
                    else if (AdditionalProperties(schema) is { } additional)
                    {
                        EvaluateRules(value, additional, path + "[" + key + "]", errors);
                    }
                }

                break;
            case JsonArray a when schema["items"] is JsonObject items:
                for (var i = 0; i < a.Count; i++)
                {
                    EvaluateRules(a[i], items, $"{path}[{i}]", errors);
                }

                break;
        }
    }

    private static ApiFieldError ForReason(string? reason, string field, JsonNode typeName, string message) => reason switch
    {
        "FieldValueForbidden" => new ApiFieldError(ApiFieldErrorType.Forbidden, field, null, message),
        "FieldValueRequired" => new ApiFieldError(ApiFieldErrorType.Required, field, null, message),
        // apiextensions reports a duplicate with the value's type only (field.Duplicate drops the message).
        "FieldValueDuplicate" => new ApiFieldError(ApiFieldErrorType.Duplicate, field, typeName, ""),
        _ => new ApiFieldError(ApiFieldErrorType.Invalid, field, typeName, message),
    };

    private static readonly Dictionary<string, Regex> Patterns = new(StringComparer.Ordinal);

    private static Regex Pattern(string pattern)
    {
        lock (Patterns)
        {
            if (!Patterns.TryGetValue(pattern, out var regex))
            {
                regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                Patterns[pattern] = regex;
            }

            return regex;
        }
    }

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Rfc1123Subdomain();
}
