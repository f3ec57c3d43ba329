using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Schema.Cel;

/// <summary>Converts JSON values to the wire form of cel-server.mjs, typed by the schema as Kubernetes does for CEL.</summary>
/// <remarks>Type mapping and property-name escaping: https://kubernetes.io/docs/reference/using-api/cel/#type-checking and
/// https://kubernetes.io/docs/reference/using-api/cel/#escaping. Integers travel as {"$i": "123"} (CEL int), other numbers
/// as JSON numbers (CEL double), date/date-time, duration and byte strings as {"$t"|"$d"|"$b": "..."}; object keys
/// starting with "$" get one more "$".</remarks>
internal static partial class CelValues
{
    private static readonly HashSet<string> ReservedWords =
    [
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import",
        "let", "loop", "package", "namespace", "return", "var",
    ];

    /// <summary>Encodes a value at a schema node; <paramref name="isRoot"/> limits metadata to name and generateName.</summary>
    public static JsonNode? Encode(JsonNode? node, StructuralSchema? schema, bool isRoot = false)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject o:
                return EncodeObject(o, schema, isRoot);
            case JsonArray a:
                var list = new JsonArray();
                foreach (var item in a)
                {
                    list.Add(Encode(item, schema?.Items));
                }

                return list;
            case JsonValue v:
                return EncodeScalar(v, schema);
            default:
                return null;
        }
    }

    private static JsonNode EncodeObject(JsonObject o, StructuralSchema? schema, bool isRoot)
    {
        var result = new JsonObject();
        var isResource = isRoot || schema?.EmbeddedResource == true;
        if (schema is null || (schema.Properties.Count == 0 && schema.AdditionalProperties is null))
        {
            // Unknown fields kept by x-kubernetes-preserve-unknown-fields are visible as dynamic values.
            foreach (var (key, value) in o)
            {
                result[WireKey(key)] = Encode(value, null);
            }

            return result;
        }

        if (schema.AdditionalProperties is { } additional)
        {
            foreach (var (key, value) in o)
            {
                result[WireKey(key)] = Encode(value, additional);
            }

            return result;
        }

        foreach (var (key, value) in o)
        {
            if (isResource && key == "metadata")
            {
                // Only metadata.name and metadata.generateName are visible to rules.
                var visible = new JsonObject();
                foreach (var field in new[] { "name", "generateName" })
                {
                    if (value?[field] is JsonValue s)
                    {
                        visible[field] = s.DeepClone();
                    }
                }

                result["metadata"] = visible;
            }
            else if (schema.Properties.TryGetValue(key, out var property))
            {
                if (Escape(key) is { } name)
                {
                    result[WireKey(name)] = Encode(value, property);
                }
            }
            else if (isResource && key is "apiVersion" or "kind")
            {
                result[key] = Encode(value, null);
            }
        }

        return result;
    }

    private static JsonNode? EncodeScalar(JsonValue v, StructuralSchema? schema)
    {
        switch (v.GetValueKind())
        {
            case JsonValueKind.Number:
                var asInteger = JsonValues.TryGetInteger(v, out var l);
                if (schema?.Type == "number")
                {
                    return JsonValue.Create(JsonValues.AsDouble(v) ?? 0);
                }

                if (!asInteger && schema?.Type == "integer" && JsonValues.AsDouble(v) is { } d && Math.Floor(d) == d && Math.Abs(d) < 9.2e18)
                {
                    (asInteger, l) = (true, (long)d);
                }

                return asInteger ? new JsonObject { ["$i"] = l.ToString(System.Globalization.CultureInfo.InvariantCulture) } : JsonValue.Create(JsonValues.AsDouble(v) ?? 0);
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String when schema?.Type == "string" && TypedStringMarker(schema.Format) is { } marker:
                return new JsonObject { [marker] = v.DeepClone() };
            default:
                return v.DeepClone();
        }
    }

    // Kubernetes types these formatted strings as timestamp, duration and bytes in CEL.
    private static string? TypedStringMarker(string? format) => format switch
    {
        "date" or "date-time" or "datetime" => "$t",
        "duration" => "$d",
        "byte" => "$b",
        _ => null,
    };

    private static string WireKey(string key) => key.StartsWith('$') ? "$" + key : key;

    /// <summary>The CEL name of a property, or null when the name cannot be accessed from CEL.</summary>
    public static string? Escape(string name)
    {
        if (!AccessibleName().IsMatch(name))
        {
            return null;
        }

        if (ReservedWords.Contains(name))
        {
            return "__" + name + "__";
        }

        return name.Replace("__", "__underscores__", StringComparison.Ordinal)
            .Replace(".", "__dot__", StringComparison.Ordinal)
            .Replace("-", "__dash__", StringComparison.Ordinal)
            .Replace("/", "__slash__", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")]
    private static partial Regex AccessibleName();
}
