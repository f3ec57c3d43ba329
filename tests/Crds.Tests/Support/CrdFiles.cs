using System.Text.Json.Nodes;
using Ferry.Crds.Generation;
using Ferry.Crds.Serialization;

namespace Ferry.Crds.Tests.Support;

/// <summary>The committed copies of the generated CRD.</summary>
public static class CrdFiles
{
    public static IReadOnlyList<string> CommittedPaths { get; } =
    [
        Path.Combine("config", "crd", CrdGenerator.FileName),
        Path.Combine("deploy", "helm", "ferry", "crds", CrdGenerator.FileName),
    ];

    /// <summary>The committed CRD (config/crd), parsed.</summary>
    public static JsonObject Committed() =>
        (JsonObject)ManifestYaml.Parse(File.ReadAllText(RepoPaths.Of(CommittedPaths[0])))!;

    /// <summary>The openAPIV3Schema of the committed CRD.</summary>
    public static JsonObject CommittedSchema() =>
        (JsonObject)Committed()["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;
}
