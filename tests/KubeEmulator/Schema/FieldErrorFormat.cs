using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Formats field errors exactly as apimachinery's field.Error.ErrorBody does (k8s.io/apimachinery/pkg/util/validation/field).</summary>
internal static class FieldErrorFormat
{
    public static string Body(FieldError error)
    {
        var type = TypeText(error.Type);
        var body = error.Type is FieldErrorType.Required or FieldErrorType.Forbidden or FieldErrorType.TooLong
            ? type
            : type + ": " + Value(error.BadValue);
        return error.Detail.Length == 0 ? body : body + ": " + error.Detail;
    }

    public static string Reason(FieldErrorType type) => "FieldValue" + type;

    private static string TypeText(FieldErrorType type) => type switch
    {
        FieldErrorType.Invalid or FieldErrorType.TypeInvalid => "Invalid value",
        FieldErrorType.Required => "Required value",
        FieldErrorType.NotSupported => "Unsupported value",
        FieldErrorType.TooLong => "Too long",
        FieldErrorType.TooMany => "Too many",
        FieldErrorType.Forbidden => "Forbidden",
        FieldErrorType.Duplicate => "Duplicate value",
        _ => type.ToString(),
    };

    // Simple types print with %v, strings with %q, nil as "null" and composites with %#v.
    private static string Value(JsonNode? value) => value switch
    {
        null => GoFormat.Quote("null"),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => GoFormat.Quote(v.GetValue<string>()),
            JsonValueKind.Number => GoFormat.Number(v),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => GoFormat.Quote("null"),
        },
        _ => GoFormat.GoSyntax(value),
    };
}
