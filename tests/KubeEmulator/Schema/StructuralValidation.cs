using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>OpenAPI v3 value validation with the apiserver's messages (kube-openapi's validator as wrapped by apiextensions-apiserver).</summary>
/// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation.
/// Field names follow kube-openapi: `spec.inputs[0].name`, map values as `spec.env.KEY`.</remarks>
internal static class StructuralValidation
{
    /// <summary>Validates the object; on update, errors of values equal to their old value are ratcheted (dropped).</summary>
    public static void ValidateRoot(JsonObject root, JsonObject? old, StructuralSchema schema, List<FieldError> errors) =>
        Validate(root, schema, "", Correlation.Of(old), errors);

    private static string Child(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static void Validate(JsonNode? node, StructuralSchema schema, string path, Correlation old, List<FieldError> errors)
    {
        if (old.Unchanged(node))
        {
            // Validation ratcheting (on by default since Kubernetes 1.30): an unchanged value keeps being accepted.
            return;
        }

        var expected = schema.IntOrString ? "integer,string" : schema.Type;
        if (JsonValues.IsNull(node))
        {
            if (!string.IsNullOrEmpty(expected) && !schema.Nullable)
            {
                errors.Add(TypeError(path, expected, "null"));
            }

            return;
        }

        if (!string.IsNullOrEmpty(expected) && !TypeMatches(node!, expected))
        {
            errors.Add(TypeError(path, expected, JsonValues.TypeName(node)));
            CheckEnum(node, schema, path, errors);
            return;
        }

        ValidateCombinators(node!, schema, path, errors);
        switch (node)
        {
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                ValidateString(v.GetValue<string>(), schema, path, errors);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                ValidateNumber(v, schema, path, errors);
                break;
        }

        if (node is JsonArray array)
        {
            ValidateArray(array, schema, path, old, errors);
        }

        CheckEnum(node, schema, path, errors);
        if (node is JsonObject obj)
        {
            ValidateObject(obj, schema, path, old, errors);
        }
    }

    private static bool TypeMatches(JsonNode node, string expected)
    {
        var actual = JsonValues.TypeName(node);
        var types = expected.Split(',');
        if (types.Contains(actual))
        {
            return true;
        }

        // An integral float64 satisfies "integer", and an int64 satisfies "number".
        if (actual == "number" && types.Contains("integer"))
        {
            var d = JsonValues.AsDouble((JsonValue)node) ?? double.NaN;
            return Math.Floor(d) == d && !double.IsInfinity(d);
        }

        return actual == "integer" && types.Contains("number");
    }

    private static FieldError TypeError(string path, string expected, string actual) =>
        new(FieldErrorType.TypeInvalid, FieldPath.Display(path), JsonValue.Create(actual), $"{path} in body must be of type {expected}: {GoFormat.Quote(actual)}");

    private static void ValidateString(string value, StructuralSchema schema, string path, List<FieldError> errors)
    {
        var length = value.EnumerateRunes().Count();
        if (schema.MaxLength is { } max && length > max)
        {
            errors.Add(new FieldError(FieldErrorType.TooLong, FieldPath.Display(path), JsonValue.Create(value), MaxLengthDetail(max)));
        }

        if (schema.MinLength is { } min && length < min)
        {
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), JsonValue.Create(value), $"{path} in body should be at least {min} chars long"));
        }

        if (schema.PatternRegex is { } regex && !regex.IsMatch(value))
        {
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), JsonValue.Create(value), $"{path} in body should match '{schema.Pattern}'"));
        }

        if (schema.Format is { } format && Formats.IsValid(format, value) == false)
        {
            errors.Add(new FieldError(FieldErrorType.TypeInvalid, FieldPath.Display(path), JsonValue.Create(value), $"{path} in body must be of type {format}: {GoFormat.Quote(value)}"));
        }
    }

    /// <summary>field.TooLong's detail (apimachinery 1.32).</summary>
    public static string MaxLengthDetail(long max) => $"may not be more than {max} {(max == 1 ? "byte" : "bytes")}";

    /// <summary>field.TooMany's detail (apimachinery 1.32).</summary>
    public static string MaxItemsDetail(long max) => $"must have at most {max} {(max == 1 ? "item" : "items")}";

    private static void ValidateNumber(JsonValue value, StructuralSchema schema, string path, List<FieldError> errors)
    {
        var d = JsonValues.AsDouble(value) ?? 0;
        if (schema.MultipleOf is { } factor && factor > 0 && Math.Abs(Math.IEEERemainder(d, factor)) > 1e-9 * Math.Max(1, Math.Abs(d)))
        {
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), value.DeepClone(), $"{path} in body should be a multiple of {GoFormat.Float(factor)}"));
        }

        if (schema.Maximum is { } max && (schema.ExclusiveMaximum ? d >= max : d > max))
        {
            var relation = schema.ExclusiveMaximum ? "less than" : "less than or equal to";
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), value.DeepClone(), $"{path} in body should be {relation} {GoFormat.Float(max)}"));
        }

        if (schema.Minimum is { } min && (schema.ExclusiveMinimum ? d <= min : d < min))
        {
            var relation = schema.ExclusiveMinimum ? "greater than" : "greater than or equal to";
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), value.DeepClone(), $"{path} in body should be {relation} {GoFormat.Float(min)}"));
        }
    }

    private static void ValidateArray(JsonArray array, StructuralSchema schema, string path, Correlation old, List<FieldError> errors)
    {
        if (schema.MinItems is { } min && array.Count < min)
        {
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), JsonValue.Create(array.Count), $"{path} in body should have at least {min} items"));
        }

        if (schema.MaxItems is { } max && array.Count > max)
        {
            errors.Add(new FieldError(FieldErrorType.TooMany, FieldPath.Display(path), JsonValue.Create(array.Count), MaxItemsDetail(max)));
        }

        if (schema.Items is { } items)
        {
            for (var i = 0; i < array.Count; i++)
            {
                Validate(array[i], items, $"{path}[{i}]", old.Item(array[i], schema), errors);
            }
        }
    }

    private static void ValidateObject(JsonObject obj, StructuralSchema schema, string path, Correlation old, List<FieldError> errors)
    {
        if (schema.MaxProperties is { } max && obj.Count > max)
        {
            errors.Add(new FieldError(FieldErrorType.TooMany, FieldPath.Display(path), JsonValue.Create(obj.Count), MaxItemsDetail(max)));
        }

        if (schema.MinProperties is { } min && obj.Count < min)
        {
            errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Display(path), JsonValue.Create(obj.Count), $"{path} in body should have at least {min} properties"));
        }

        foreach (var (key, value) in obj)
        {
            if (schema.Properties.TryGetValue(key, out var property))
            {
                Validate(value, property, Child(path, key), old.Key(key), errors);
            }
            else if (schema.AdditionalProperties is { } additional)
            {
                Validate(value, additional, Child(path, key), old.Key(key), errors);
            }
        }

        // kube-openapi checks `required` after the properties.
        foreach (var required in schema.Required)
        {
            if (!obj.ContainsKey(required))
            {
                errors.Add(new FieldError(FieldErrorType.Required, Child(path, required), null, ""));
            }
        }
    }

    private static void CheckEnum(JsonNode? node, StructuralSchema schema, string path, List<FieldError> errors)
    {
        if (schema.Enum is not { Count: > 0 } values || values.Any(v => JsonValues.DeepEquals(v, node)))
        {
            return;
        }

        var supported = values.Select(v => v is JsonValue s && s.GetValueKind() == JsonValueKind.String
            ? s.GetValue<string>()
            : v?.ToJsonString() ?? "null");
        errors.Add(new FieldError(FieldErrorType.NotSupported, FieldPath.Display(path), node?.DeepClone(),
            "supported values: " + string.Join(", ", supported.Select(GoFormat.Quote))));
    }

    private static void ValidateCombinators(JsonNode node, StructuralSchema schema, string path, List<FieldError> errors)
    {
        foreach (var branch in schema.AllOf)
        {
            Validate(node, branch, path, Correlation.None, errors);
        }

        if (schema.AnyOf.Count > 0)
        {
            var results = schema.AnyOf.Select(b => Branch(node, b, path)).ToList();
            if (results.All(r => r.Count > 0))
            {
                errors.Add(Composite($"{GoFormat.Quote(path)} must validate at least one schema (anyOf)"));
                errors.AddRange(results[0]);
            }
        }

        if (schema.OneOf.Count > 0)
        {
            var results = schema.OneOf.Select(b => Branch(node, b, path)).ToList();
            var valid = results.Count(r => r.Count == 0);
            if (valid != 1)
            {
                errors.Add(Composite($"{GoFormat.Quote(path)} must validate one and only one schema (oneOf)"));
                if (valid == 0)
                {
                    errors.AddRange(results[0]);
                }
            }
        }

        if (schema.Not is { } not && Branch(node, not, path).Count == 0)
        {
            errors.Add(Composite($"{GoFormat.Quote(path)} must not validate the schema (not)"));
        }
    }

    private static List<FieldError> Branch(JsonNode node, StructuralSchema branch, string path)
    {
        var branchErrors = new List<FieldError>();
        Validate(node, branch, path, Correlation.None, branchErrors);
        return branchErrors;
    }

    // kube-openapi reports combinator failures as composite errors, which apiextensions wraps without a field.
    private static FieldError Composite(string detail) => new(FieldErrorType.Invalid, "<nil>", JsonValue.Create(""), detail);

    /// <summary>Checks that embedded resources name their apiVersion and kind (field.Path style names).</summary>
    public static void ValidateEmbeddedResources(JsonNode? node, StructuralSchema schema, string path, bool isRoot, List<FieldError> errors)
    {
        switch (node)
        {
            case JsonObject o:
                if (schema.EmbeddedResource && !isRoot)
                {
                    foreach (var field in new[] { "apiVersion", "kind" })
                    {
                        if (o[field] is not JsonValue v || v.GetValueKind() != JsonValueKind.String || v.GetValue<string>().Length == 0)
                        {
                            errors.Add(new FieldError(FieldErrorType.Required, FieldPath.Child(path, field), null, "must not be empty"));
                        }
                    }
                }

                foreach (var (key, value) in o)
                {
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        ValidateEmbeddedResources(value, property, FieldPath.Child(path, key), false, errors);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        ValidateEmbeddedResources(value, additional, FieldPath.Key(path, key), false, errors);
                    }
                }

                break;
            case JsonArray a when schema.Items is { } items:
                for (var i = 0; i < a.Count; i++)
                {
                    ValidateEmbeddedResources(a[i], items, FieldPath.Index(path, i), false, errors);
                }

                break;
        }
    }
}
