using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Schema.Cel;

[assembly: InternalsVisibleTo("Ferry.KubeEmulator.Tests")]

namespace Ferry.KubeEmulator.Schema;

/// <summary>Validates, prunes and defaults custom objects against a CRD version's openAPIV3Schema, with CEL rules.</summary>
/// <remarks>Follows the apiserver's write path: prune unknown fields, apply defaults, validate the schema, check list-type
/// invariants, then evaluate `x-kubernetes-validations` unless a blocking schema error was found
/// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/). On update, errors
/// of values left unchanged are ratcheted as in Kubernetes 1.30+ (CRDValidationRatcheting, on by default).</remarks>
public sealed class CustomResourceValidator : IAsyncDisposable
{
    private readonly CelProcess _cel;

    /// <summary>Creates a validator; the Node CEL process starts lazily on the first rule, is reused, and restarted if it dies.</summary>
    public CustomResourceValidator()
        : this(celDirectory: null)
    {
    }

    /// <summary>Creates a validator whose CEL process runs from <paramref name="celDirectory"/> (null: located automatically)
    /// with `node` looked up in <paramref name="nodeSearchPath"/> (null: PATH).</summary>
    internal CustomResourceValidator(string? celDirectory, string? nodeSearchPath = null) => _cel = new CelProcess(celDirectory, nodeSearchPath);

    /// <summary>The id of the CEL process while it runs (tests kill it to check the restart).</summary>
    internal int? CelProcessId => _cel.ProcessId;

    /// <summary>Prunes, defaults and validates <paramref name="newObject"/>.</summary>
    /// <param name="schema">The version's `schema.openAPIV3Schema` object.</param>
    /// <param name="newObject">The whole object being written (apiVersion/kind/metadata are always kept).</param>
    /// <param name="oldObject">The stored object on update (for transition rules with oldSelf), null on create.</param>
    /// <param name="validateStatus">False for main-resource writes; true for /status writes. When false, rules under `status` are not evaluated.</param>
    /// <param name="cancellationToken">Cancels the wait for the CEL process.</param>
    /// <exception cref="CelUnavailableException">The schema has CEL rules but Node.js or @bufbuild/cel is missing.</exception>
    public async Task<SchemaValidationResult> ValidateAsync(JsonObject schema, JsonObject newObject, JsonObject? oldObject,
        bool validateStatus, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(newObject);
        var structural = StructuralSchema.Of(schema);
        var copy = (JsonObject)newObject.DeepClone();
        var unknownFields = Pruning.PruneRoot(copy, structural);
        Defaulting.Apply(copy, structural);

        var old = oldObject is null ? null : Prepared(oldObject, structural);
        var errors = new List<FieldError>();
        StructuralValidation.ValidateRoot(copy, old, structural, errors);
        StructuralValidation.ValidateEmbeddedResources(copy, structural, "", isRoot: true, errors);

        // List-type invariants are enforced on update only if the stored object already satisfied them.
        var oldListErrors = new List<FieldError>();
        if (old is not null)
        {
            ListTypeValidation.Validate(old, structural, "", oldListErrors);
        }

        if (oldListErrors.Count == 0)
        {
            ListTypeValidation.Validate(copy, structural, "", errors);
        }

        if (structural.HasRulesBelow)
        {
            if (errors.Any(IsBlocking))
            {
                // The apiserver does not run CEL over an object whose shape is already wrong.
                errors.Add(new FieldError(FieldErrorType.Invalid, "<nil>", null,
                    "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"));
            }
            else
            {
                await ValidationRules.EvaluateAsync(_cel, copy, old, structural, validateStatus, errors, cancellationToken).ConfigureAwait(false);
            }
        }

        return new SchemaValidationResult(copy, errors, unknownFields);
    }

    // The stored object is read back through the same pruning and defaulting, as the apiserver does on read.
    private static JsonObject Prepared(JsonObject stored, StructuralSchema schema)
    {
        var copy = (JsonObject)stored.DeepClone();
        Pruning.PruneRoot(copy, schema);
        Defaulting.Apply(copy, schema);
        return copy;
    }

    private static bool IsBlocking(FieldError error) => error.Type is FieldErrorType.NotSupported or FieldErrorType.Required
        or FieldErrorType.TooLong or FieldErrorType.TooMany or FieldErrorType.TypeInvalid;

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _cel.DisposeAsync();
}
