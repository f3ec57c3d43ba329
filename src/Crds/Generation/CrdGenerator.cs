using System.ComponentModel;
using System.Reflection;
using System.Text.Json.Nodes;
using Ferry.Crds.Schema;
using Ferry.Crds.V1Alpha1;

namespace Ferry.Crds.Generation;

/// <summary>
/// Generates the <c>trainingjobs.ferry.dev</c> CustomResourceDefinition from the
/// <see cref="TrainingJob"/> types. Pure: it reads attributes and returns text; the committed copies in
/// <c>config/crd</c> and the Helm chart are checked against it by a test.
/// </summary>
public static class CrdGenerator
{
    /// <summary>The CRD's metadata.name.</summary>
    public const string CrdName = TrainingJob.Plural + "." + TrainingJob.Group;

    /// <summary>The file name of the generated CRD (kubebuilder's <c>group_plural.yaml</c>).</summary>
    public const string FileName = TrainingJob.Group + "_" + TrainingJob.Plural + ".yaml";

    private const string Header =
        "# Generated from the types in src/Crds by `make crd`; do not edit by hand.\n" +
        "# A test fails when this file drifts from the types.\n";

    /// <summary>The CRD as YAML, byte-for-byte what config/crd holds.</summary>
    public static string Generate() => Header + YamlText.Write(Build());

    /// <summary>The CRD as a JSON object (apiextensions.k8s.io/v1 CustomResourceDefinition).</summary>
    public static JsonObject Build()
    {
        var version = new JsonObject
        {
            ["additionalPrinterColumns"] = PrinterColumns(),
            ["name"] = TrainingJob.Version,
            ["schema"] = new JsonObject { ["openAPIV3Schema"] = RootSchema() },
            ["served"] = true,
            ["storage"] = true,
            ["subresources"] = new JsonObject { ["status"] = new JsonObject() },
        };

        return new JsonObject
        {
            ["apiVersion"] = "apiextensions.k8s.io/v1",
            ["kind"] = "CustomResourceDefinition",
            ["metadata"] = new JsonObject { ["name"] = CrdName },
            ["spec"] = new JsonObject
            {
                ["group"] = TrainingJob.Group,
                ["names"] = new JsonObject
                {
                    ["categories"] = new JsonArray("ferry"),
                    ["kind"] = TrainingJob.KubeKind,
                    ["listKind"] = TrainingJob.ListKind,
                    ["plural"] = TrainingJob.Plural,
                    ["shortNames"] = new JsonArray(TrainingJob.ShortName),
                    ["singular"] = TrainingJob.Singular,
                },
                ["scope"] = "Namespaced",
                ["versions"] = new JsonArray(version),
            },
        };
    }

    /// <summary>The openAPIV3Schema of the TrainingJob resource.</summary>
    public static JsonObject RootSchema() => OpenApiSchemaBuilder.ForType(typeof(TrainingJob));

    private static JsonArray PrinterColumns()
    {
        var columns = typeof(TrainingJob).GetCustomAttributes<PrinterColumnAttribute>().Select(c =>
        {
            var column = new JsonObject();
            if (c.Description is not null)
                column["description"] = c.Description;
            column["jsonPath"] = c.JsonPath;
            column["name"] = c.Name;
            if (c.Priority != 0)
                column["priority"] = c.Priority;
            column["type"] = c.Type;
            return (JsonNode?)column;
        });
        return new JsonArray(columns.ToArray());
    }
}
