using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Operator.SageMaker;

/// <summary>System.Text.Json settings for AWS JSON 1.1: member names as declared, nulls left out, timestamps as epoch seconds.</summary>
public static class SageMakerJson
{
    /// <summary>The options every SageMaker request and response goes through.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = null,
        Converters = { new EpochSecondsConverter() },
    };

    /// <summary>JSON 1.1 timestamps: a number of seconds since the epoch (fractions allowed).</summary>
    private sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number)
            {
                var seconds = reader.GetDecimal();
                return DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
            }

            // Some services answer ISO 8601 strings; accept them so a response never fails on a timestamp.
            return DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        }

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
        {
            var ticks = (value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / (TimeSpan.TicksPerMillisecond);
            writer.WriteNumberValue(ticks / 1000m);
        }
    }
}
