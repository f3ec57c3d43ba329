using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Crds.V1Alpha1;

/// <summary>
/// Reads a Kubernetes quantity written as a string (<c>"500m"</c>) or a bare number (<c>cpu: 2</c>)
/// into a string, and writes it back as a string.
/// </summary>
public sealed class QuantityStringJsonConverter : JsonConverter<string?>
{
    public override bool HandleNull => false;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number => reader.TryGetInt64(out var whole)
                ? whole.ToString(CultureInfo.InvariantCulture)
                : reader.GetDouble().ToString("R", CultureInfo.InvariantCulture),
            _ => throw new JsonException($"a quantity must be a string or a number, not {reader.TokenType}"),
        };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value);
}
