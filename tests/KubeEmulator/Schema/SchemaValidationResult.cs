using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>The outcome of validating one custom object.</summary>
/// <param name="Object">A copy of the object: pruned of unknown fields, defaults applied.</param>
/// <param name="Errors">Schema and CEL errors; non-empty means 422 Invalid.</param>
/// <param name="UnknownFields">Paths like `spec.foo` that were pruned (Strict → error, Warn → Warning header).</param>
public sealed record SchemaValidationResult(
    JsonObject Object,
    IReadOnlyList<FieldError> Errors,
    IReadOnlyList<string> UnknownFields);
