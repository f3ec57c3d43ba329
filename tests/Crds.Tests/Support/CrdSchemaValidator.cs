using System.Text.Json.Nodes;
using NJsonSchema;
using NJsonSchema.Validation;

namespace Ferry.Crds.Tests.Support;

/// <summary>
/// Validates manifests against the CRD's openAPIV3Schema with NJsonSchema, the way the API server's
/// schema validation plus kubectl's strict field validation would (CEL rules are not evaluated here).
/// </summary>
public sealed class CrdSchemaValidator
{
    private readonly JsonSchema _schema;

    private CrdSchemaValidator(JsonSchema schema) => _schema = schema;

    public static CrdSchemaValidator FromCommittedCrd() => Cached.Value;

    private static readonly Lazy<CrdSchemaValidator> Cached = new(() =>
    {
        var jsonSchema = ToJsonSchema(CrdFiles.CommittedSchema());
        return new CrdSchemaValidator(JsonSchema.FromJsonAsync(jsonSchema.ToJsonString()).GetAwaiter().GetResult());
    });

    /// <summary>Every error, flattened, each as "path: kind".</summary>
    public IReadOnlyList<ValidationError> Validate(JsonNode manifest) =>
        Flatten(_schema.Validate(manifest.ToJsonString())).ToList();

    private static IEnumerable<ValidationError> Flatten(IEnumerable<ValidationError> errors)
    {
        foreach (var error in errors)
        {
            yield return error;
            if (error is ChildSchemaValidationError child)
            {
                foreach (var nested in Flatten(child.Errors.SelectMany(e => e.Value)))
                    yield return nested;
            }
        }
    }

    /// <summary>
    /// OpenAPI v3 (structural, Kubernetes flavour) to JSON Schema: x-kubernetes-* extensions are
    /// dropped (int-or-string already carries its anyOf), and objects with declared properties refuse
    /// unknown fields, as <c>kubectl apply</c>'s default strict field validation does.
    /// </summary>
    public static JsonObject ToJsonSchema(JsonObject openApi)
    {
        var schema = new JsonObject();
        foreach (var (key, value) in openApi)
        {
            if (key.StartsWith("x-kubernetes-", StringComparison.Ordinal) || key == "default")
                continue;
            schema[key] = key switch
            {
                "properties" => new JsonObject(((JsonObject)value!).Select(p =>
                    KeyValuePair.Create(p.Key, (JsonNode?)ToJsonSchema((JsonObject)p.Value!)))),
                "items" or "additionalProperties" when value is JsonObject child => ToJsonSchema(child),
                _ => value?.DeepClone(),
            };
        }
        if (schema.ContainsKey("properties") && !schema.ContainsKey("additionalProperties"))
            schema["additionalProperties"] = false;
        return schema;
    }
}
