using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.Operator.Cli.Run;

/// <summary>The kind of a field error, as in apimachinery's field.ErrorType.</summary>
public enum ApiFieldErrorType
{
    Invalid,
    Required,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
    Duplicate,
    TypeInvalid,
}

/// <summary>
/// One field error of a manifest, printed exactly as the Kubernetes API server prints it
/// (apimachinery's field.Error): <c>spec.resources.replicas: Invalid value: 0: spec.resources.replicas in body should be greater than or equal to 1</c>.
/// </summary>
public sealed record ApiFieldError(ApiFieldErrorType Type, string Field, JsonNode? BadValue, string Detail)
{
    /// <summary>The error without the field, e.g. <c>Invalid value: 0: …</c>.</summary>
    public string Body
    {
        get
        {
            var type = Type switch
            {
                ApiFieldErrorType.Invalid or ApiFieldErrorType.TypeInvalid => "Invalid value",
                ApiFieldErrorType.Required => "Required value",
                ApiFieldErrorType.NotSupported => "Unsupported value",
                ApiFieldErrorType.TooLong => "Too long",
                ApiFieldErrorType.TooMany => "Too many",
                ApiFieldErrorType.Forbidden => "Forbidden",
                ApiFieldErrorType.Duplicate => "Duplicate value",
                _ => Type.ToString(),
            };
            var body = Type is ApiFieldErrorType.Required or ApiFieldErrorType.Forbidden or ApiFieldErrorType.TooLong
                ? type
                : type + ": " + GoText.Value(BadValue);
            return Detail.Length == 0 ? body : body + ": " + Detail;
        }
    }

    /// <summary><c>&lt;field&gt;: &lt;body&gt;</c>, the line kubectl prints.</summary>
    public override string ToString() => $"{Field}: {Body}";
}

/// <summary>Prints values as Go's fmt does (<c>%v</c>, <c>%q</c>), because the API server builds its messages with fmt.</summary>
internal static class GoText
{
    /// <summary>strconv.Quote.</summary>
    public static string Quote(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append('"');
        foreach (var rune in text.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': builder.Append("\\\""); continue;
                case '\\': builder.Append("\\\\"); continue;
                case '\n': builder.Append("\\n"); continue;
                case '\r': builder.Append("\\r"); continue;
                case '\t': builder.Append("\\t"); continue;
            }

            if (rune.Value < 0x20 || rune.Value == 0x7f)
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{rune.Value:x2}");
            }
            else
            {
                builder.Append(rune.ToString());
            }
        }

        return builder.Append('"').ToString();
    }

    /// <summary>The bad value of a field error: strings quoted, numbers and booleans bare, null as "null".</summary>
    public static string Value(JsonNode? value) => value switch
    {
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => Quote(v.GetValue<string>()),
            JsonValueKind.Number => Number(v),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => Quote("null"),
        },
        null => Quote("null"),
        _ => Quote(value.ToJsonString()),
    };

    /// <summary><c>%v</c> of a JSON number (int64 when integral, else float64).</summary>
    public static string Number(JsonValue value)
    {
        var text = value.ToJsonString();
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var whole))
        {
            return whole.ToString(CultureInfo.InvariantCulture);
        }

        return Float(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    /// <summary><c>%v</c> of a float64: the shortest round-trip digits, exponent form below 1e-4 and from 1e21.</summary>
    public static string Float(double value)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e21)
        {
            return ((decimal)value).ToString(CultureInfo.InvariantCulture);
        }

        var abs = Math.Abs(value);
        if (abs is >= 1e-4 and < 1e21)
        {
            return value.ToString("R", CultureInfo.InvariantCulture);
        }

        var text = value.ToString("E16", CultureInfo.InvariantCulture);
        var shortest = value.ToString("R", CultureInfo.InvariantCulture);
        var mantissaDigits = shortest.Replace("-", "", StringComparison.Ordinal).Split('E')[0].Replace(".", "", StringComparison.Ordinal).Trim('0');
        var exponent = int.Parse(text[(text.IndexOf('E', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
        var mantissa = mantissaDigits.Length > 1 ? mantissaDigits[0] + "." + mantissaDigits[1..] : mantissaDigits;
        return (value < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }
}
