using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Validates, prunes and defaults custom objects against a CRD version's openAPIV3Schema, with CEL rules.</summary>
public sealed class CustomResourceValidator : IAsyncDisposable
{
    /// <summary>Creates a validator; the Node CEL process starts lazily on the first rule, is reused, and restarted if it dies.</summary>
    public CustomResourceValidator()
    {
    }

    /// <summary>Prunes, defaults and validates <paramref name="newObject"/>.</summary>
    /// <param name="schema">The version's `schema.openAPIV3Schema` object.</param>
    /// <param name="newObject">The whole object being written (apiVersion/kind/metadata are always kept).</param>
    /// <param name="oldObject">The stored object on update (for transition rules with oldSelf), null on create.</param>
    /// <param name="validateStatus">False for main-resource writes; true for /status writes. When false, rules under `status` are not evaluated.</param>
    /// <param name="cancellationToken">Cancels the wait for the CEL process.</param>
    public Task<SchemaValidationResult> ValidateAsync(JsonObject schema, JsonObject newObject, JsonObject? oldObject,
        bool validateStatus, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(newObject);
        var copy = (JsonObject)newObject.DeepClone();
        return Task.FromResult(new SchemaValidationResult(copy, [], []));
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
