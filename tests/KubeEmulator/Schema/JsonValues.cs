using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Reads JSON nodes the way the apiserver's unstructured decoding sees them (int64 vs float64).</summary>
internal static class JsonValues
{
    /// <summary>True when the value is a JSON number the apiserver decodes as int64 (written without fraction or exponent).</summary>
    public static bool TryGetInteger(JsonValue value, out long result)
    {
        result = 0;
        if (value.GetValueKind() != JsonValueKind.Number)
        {
            return false;
        }

        if (value.TryGetValue(out JsonElement element))
        {
            return element.TryGetInt64(out result) && !element.GetRawText().Contains('.') && !element.GetRawText().Contains('e', StringComparison.OrdinalIgnoreCase);
        }

        if (value.TryGetValue(out long l)) { result = l; return true; }
        if (value.TryGetValue(out int i)) { result = i; return true; }
        if (value.TryGetValue(out short s)) { result = s; return true; }
        if (value.TryGetValue(out byte b)) { result = b; return true; }
        if (value.TryGetValue(out uint ui)) { result = ui; return true; }
        return false;
    }

    public static double? AsDouble(JsonValue value)
    {
        if (value.GetValueKind() != JsonValueKind.Number)
        {
            return null;
        }

        if (value.TryGetValue(out JsonElement element))
        {
            return element.GetDouble();
        }

        return double.Parse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>The OpenAPI type name of a value, as kube-openapi's type validator reports it.</summary>
    public static string TypeName(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Null => "null",
            JsonValueKind.Number => TryGetInteger(v, out _) ? "integer" : "number",
            _ => "null",
        },
        _ => "null",
    };

    public static bool IsNull(JsonNode? node) => node is null || (node is JsonValue v && v.GetValueKind() == JsonValueKind.Null);

    /// <summary>Deep equality with numbers compared by value (1 equals 1.0), as JSON values are compared by the apiserver.</summary>
    public static bool DeepEquals(JsonNode? a, JsonNode? b)
    {
        if (IsNull(a) || IsNull(b))
        {
            return IsNull(a) && IsNull(b);
        }

        switch (a, b)
        {
            case (JsonObject oa, JsonObject ob):
                if (oa.Count != ob.Count)
                {
                    return false;
                }

                foreach (var (k, v) in oa)
                {
                    if (!ob.TryGetPropertyValue(k, out var w) || !DeepEquals(v, w))
                    {
                        return false;
                    }
                }

                return true;
            case (JsonArray la, JsonArray lb):
                if (la.Count != lb.Count)
                {
                    return false;
                }

                for (var i = 0; i < la.Count; i++)
                {
                    if (!DeepEquals(la[i], lb[i]))
                    {
                        return false;
                    }
                }

                return true;
            case (JsonValue va, JsonValue vb):
                var ka = va.GetValueKind();
                var kb = vb.GetValueKind();
                if (ka == JsonValueKind.Number && kb == JsonValueKind.Number)
                {
                    if (TryGetInteger(va, out var ia) && TryGetInteger(vb, out var ib))
                    {
                        return ia == ib;
                    }

                    return AsDouble(va) == AsDouble(vb);
                }

                if (ka != kb)
                {
                    return false;
                }

                return ka == JsonValueKind.String ? va.GetValue<string>() == vb.GetValue<string>() : true;
            default:
                return false;
        }
    }
}
