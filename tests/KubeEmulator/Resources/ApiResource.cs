using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Resources;

/// <summary>One printer column of a resource (a CRD's additionalPrinterColumns entry).</summary>
/// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#additional-printer-columns</remarks>
public sealed record PrinterColumn(string Name, string Type, string? Format, string Description, string JsonPath, int Priority);

/// <summary>A served resource: one group/version/plural with its kind, scope, subresources and (for custom resources) schema.</summary>
public sealed class ApiResource
{
    public required string Group { get; init; }
    public required string Version { get; init; }
    public required string Kind { get; init; }
    public required string Plural { get; init; }
    public required string Singular { get; init; }
    public required bool Namespaced { get; init; }
    public IReadOnlyList<string> ShortNames { get; init; } = [];
    public IReadOnlyList<string> Categories { get; init; } = [];

    /// <summary>True when the resource has a <c>/status</c> subresource (writes to the main resource ignore status).</summary>
    public bool HasStatusSubresource { get; init; }

    /// <summary>True for kinds defined by a CustomResourceDefinition.</summary>
    public bool IsCustom { get; init; }

    /// <summary>The served version's <c>openAPIV3Schema</c> (custom resources only).</summary>
    public JsonObject? Schema { get; init; }

    public IReadOnlyList<PrinterColumn> PrinterColumns { get; init; } = [];

    /// <summary>The field selector labels this resource accepts, each mapped to the stored field it selects on.</summary>
    /// <remarks>https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/#supported-fields</remarks>
    public IReadOnlyDictionary<string, string> SelectableFields { get; init; } = MetadataFields;

    /// <summary>Converts the stored form into the form served under this version (null: served as stored).</summary>
    public Func<JsonObject, JsonObject>? ToServed { get; init; }

    /// <summary>Converts a body sent to this version into the stored form (null: stored as sent).</summary>
    public Func<JsonObject, JsonObject>? ToStored { get; init; }

    /// <summary>metadata.name and metadata.namespace: what every kind can be selected by.</summary>
    public static IReadOnlyDictionary<string, string> MetadataFields { get; } = SelectableFieldsOf([]);

    /// <summary>metadata.name, metadata.namespace and <paramref name="fields"/>, each selecting on itself.</summary>
    public static IReadOnlyDictionary<string, string> SelectableFieldsOf(IEnumerable<string> fields) =>
        new[] { "metadata.name", "metadata.namespace" }.Concat(fields).Distinct().ToDictionary(f => f, f => f, StringComparer.Ordinal);

    /// <summary>The storage shared by every served version of the same group/plural.</summary>
    public required Store.ResourceCollection Collection { get; init; }

    public string GroupVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    public string ListKind => Kind + "List";

    /// <summary>The path prefix: <c>/api/v1</c> or <c>/apis/group/version</c>.</summary>
    public string PathPrefix => Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";

    /// <summary>Strategic merge patch is served for built-in kinds only, as the apiserver does.</summary>
    public bool SupportsStrategicMergePatch => !IsCustom;

    public override string ToString() => $"{Plural}.{GroupVersion}";
}
