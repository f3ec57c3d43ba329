using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ferry.Crds.Serialization;

namespace Ferry.Crds.Tests.Support;

/// <summary>Loads sample manifests and edits them by path (e.g. <c>spec.inputs[0].name</c>).</summary>
public static partial class Manifests
{
    public static readonly IReadOnlyList<string> SampleFiles =
    [
        "fashion-mnist-local.yaml",
        "fashion-mnist-incluster.yaml",
        "fashion-mnist-sagemaker.yaml",
    ];

    public static string SampleText(string file) => File.ReadAllText(RepoPaths.Of(Path.Combine("config", "samples", file)));

    public static JsonObject Sample(string file) => (JsonObject)ManifestYaml.Parse(SampleText(file))!;

    /// <summary>Sets (or with <paramref name="remove"/>, deletes) the value at a dotted path, creating objects on the way.</summary>
    public static JsonObject With(this JsonObject root, string path, JsonNode? value, bool remove = false)
    {
        var segments = Segment().Matches(path).Select(m => m.Groups["name"].Success ? (object)m.Groups["name"].Value : int.Parse(m.Groups["index"].Value)).ToList();
        JsonNode current = root;
        for (var i = 0; i < segments.Count - 1; i++)
        {
            current = segments[i] switch
            {
                string name => current[name] ??= segments[i + 1] is int ? new JsonArray() : new JsonObject(),
                int index => current[index]!,
                _ => throw new InvalidOperationException(),
            };
        }
        switch (segments[^1])
        {
            case string name when remove:
                ((JsonObject)current).Remove(name);
                break;
            case string name:
                current[name] = value;
                break;
            case int index when remove:
                ((JsonArray)current).RemoveAt(index);
                break;
            case int index:
                current[index] = value;
                break;
        }
        return root;
    }

    [GeneratedRegex(@"(?<name>[A-Za-z0-9_\-]+)|\[(?<index>[0-9]+)\]")]
    private static partial Regex Segment();
}
