using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Drops fields the schema does not know, as the apiserver does before defaulting and validation.</summary>
/// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning</remarks>
internal static class Pruning
{
    /// <summary>Prunes <paramref name="root"/> in place and returns the paths of the removed fields (e.g. `spec.foo`).</summary>
    public static List<string> PruneRoot(JsonObject root, StructuralSchema schema)
    {
        var pruned = new List<string>();
        PruneObject(root, schema, "", isResource: true, pruned);
        return pruned;
    }

    private static void Prune(JsonNode? node, StructuralSchema schema, string path, List<string> pruned)
    {
        switch (node)
        {
            case JsonObject o:
                PruneObject(o, schema, path, schema.EmbeddedResource, pruned);
                break;
            case JsonArray a when schema.Items is not null:
                for (var i = 0; i < a.Count; i++)
                {
                    Prune(a[i], schema.Items, $"{path}[{i}]", pruned);
                }

                break;
        }
    }

    private static void PruneObject(JsonObject o, StructuralSchema schema, string path, bool isResource, List<string> pruned)
    {
        foreach (var (key, value) in o.ToList())
        {
            var childPath = path.Length == 0 ? key : path + "." + key;
            if (isResource && key == "metadata")
            {
                // ObjectMeta is the apiserver's own type: never pruned by the custom schema.
                continue;
            }

            if (schema.Properties.TryGetValue(key, out var property))
            {
                Prune(value, property, childPath, pruned);
            }
            else if (schema.AdditionalProperties is not null)
            {
                Prune(value, schema.AdditionalProperties, childPath, pruned);
            }
            else if (isResource && key is "apiVersion" or "kind")
            {
                // apiVersion, kind and metadata of a resource (the root or an embedded resource) are always kept.
            }
            else if (!schema.PreserveUnknownFields)
            {
                o.Remove(key);
                pruned.Add(childPath);
            }
        }
    }
}
