using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Enforces `x-kubernetes-list-type: set` and `map` uniqueness (apiextensions-apiserver's listtype validation).</summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/server-side-apply/#merge-strategy</remarks>
internal static class ListTypeValidation
{
    public static void Validate(JsonNode? node, StructuralSchema schema, string path, List<FieldError> errors)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Validate(value, property, FieldPath.Child(path, key), errors);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        Validate(value, additional, FieldPath.Key(path, key), errors);
                    }
                }

                break;
            case JsonArray a:
                if (schema.ListType == "set")
                {
                    ValidateSet(a, path, errors);
                }
                else if (schema.ListType == "map")
                {
                    ValidateMap(a, schema, path, errors);
                }

                if (schema.Items is { } items)
                {
                    for (var i = 0; i < a.Count; i++)
                    {
                        Validate(a[i], items, FieldPath.Index(path, i), errors);
                    }
                }

                break;
        }
    }

    private static void ValidateSet(JsonArray a, string path, List<FieldError> errors)
    {
        for (var i = 0; i < a.Count; i++)
        {
            for (var j = 0; j < i; j++)
            {
                if (JsonValues.DeepEquals(a[i], a[j]))
                {
                    errors.Add(new FieldError(FieldErrorType.Duplicate, FieldPath.Index(path, i), a[i]?.DeepClone(), ""));
                    break;
                }
            }
        }
    }

    private static void ValidateMap(JsonArray a, StructuralSchema schema, string path, List<FieldError> errors)
    {
        for (var i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonObject && !JsonValues.IsNull(a[i]))
            {
                errors.Add(new FieldError(FieldErrorType.Invalid, FieldPath.Index(path, i), a[i]?.DeepClone(), "must be an object for an array of list-type map"));
                return;
            }
        }

        var seen = new List<JsonObject>();
        for (var i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonObject item)
            {
                continue;
            }

            var keys = new JsonObject();
            var complete = true;
            foreach (var keyField in schema.ListMapKeys)
            {
                if (item.TryGetPropertyValue(keyField, out var keyValue))
                {
                    keys[keyField] = keyValue?.DeepClone();
                }
                else if (schema.Items?.Properties.GetValueOrDefault(keyField) is { HasDefault: true } keySchema)
                {
                    keys[keyField] = keySchema.Default?.DeepClone();
                }
                else
                {
                    errors.Add(new FieldError(FieldErrorType.Required, FieldPath.Child(FieldPath.Index(path, i), keyField), null, ""));
                    complete = false;
                }
            }

            if (!complete)
            {
                continue;
            }

            if (seen.Any(k => JsonValues.DeepEquals(k, keys)))
            {
                errors.Add(new FieldError(FieldErrorType.Duplicate, FieldPath.Index(path, i), keys, ""));
            }
            else
            {
                seen.Add(keys);
            }
        }
    }
}
