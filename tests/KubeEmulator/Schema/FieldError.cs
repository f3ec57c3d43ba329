using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>How unknown fields are treated (the `fieldValidation` query parameter).</summary>
public enum FieldValidationMode { Ignore, Warn, Strict }

/// <summary>The kind of a field error, as in apimachinery's field.ErrorType.</summary>
public enum FieldErrorType { Invalid, Required, NotSupported, TooLong, TooMany, Forbidden, Duplicate, TypeInvalid }

/// <summary>One field error, shaped like apimachinery's field.Error.</summary>
public sealed record FieldError(FieldErrorType Type, string Field, JsonNode? BadValue, string Detail)
{
    /// <summary>The error without the field, as in StatusCause.message, e.g. `Invalid value: 0: must be ≥ 1`.</summary>
    public string Message => FieldErrorFormat.Body(this);

    /// <summary>The StatusCause.reason, e.g. `FieldValueInvalid`.</summary>
    public string Reason => FieldErrorFormat.Reason(Type);

    /// <summary>The text kubectl prints: `&lt;field&gt;: &lt;Message&gt;`.</summary>
    public override string ToString() => $"{Field}: {Message}";
}
