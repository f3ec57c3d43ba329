using System.Text.Json.Nodes;
using System.Text.Json;

namespace Ferry.KubeEmulator.Serialization;

/// <summary>Reads numbers from JSON nodes whatever CLR type backs them (parsed JSON, YAML or code).</summary>
internal static class JsonNumbers
{
    public static long? AsLong(this JsonNode? node)
    {
        if (node is not JsonValue v)
        {
            return null;
        }

        if (v.TryGetValue<JsonElement>(out var e))
        {
            return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var l) ? l : null;
        }

        if (v.TryGetValue<long>(out var x))
        {
            return x;
        }

        if (v.TryGetValue<int>(out var i))
        {
            return i;
        }

        return v.TryGetValue<double>(out var d) ? (long)d : null;
    }
}

/// <summary>Serializer settings for everything the emulator writes: no needless escaping (quotes stay <c>\"</c>, as the apiserver writes them).</summary>
internal static class JsonOutput
{
    public static JsonSerializerOptions Options { get; } = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] Bytes(JsonNode node) => JsonSerializer.SerializeToUtf8Bytes(node, Options);
}
