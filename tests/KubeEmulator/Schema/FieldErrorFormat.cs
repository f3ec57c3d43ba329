namespace Ferry.KubeEmulator.Schema;

/// <summary>Formats field errors exactly as apimachinery's field.Error does.</summary>
internal static class FieldErrorFormat
{
    public static string Body(FieldError error) => error.Type.ToString() + ": " + error.Detail;

    public static string Reason(FieldErrorType type) => "FieldValue" + type;
}
