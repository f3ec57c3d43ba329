using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Applies schema `default`s to absent fields (and to nulls of non-nullable fields), recursively.</summary>
/// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting
/// and https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting-and-nullable</remarks>
internal static class Defaulting
{
    public static void Apply(JsonNode? node, StructuralSchema schema)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, property) in schema.Properties)
                {
                    var present = o.TryGetPropertyValue(name, out var value);
                    if (!present || (JsonValues.IsNull(value) && !property.Nullable))
                    {
                        if (property.HasDefault && !JsonValues.IsNull(property.Default))
                        {
                            o[name] = property.Default!.DeepClone();
                        }
                        else if (present)
                        {
                            // Nulls of non-nullable fields without a default are pruned before defaulting.
                            o.Remove(name);
                        }
                    }
                }

                foreach (var (key, value) in o.ToList())
                {
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Apply(value, property);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        if (JsonValues.IsNull(value) && !additional.Nullable)
                        {
                            if (additional.HasDefault && !JsonValues.IsNull(additional.Default))
                            {
                                o[key] = additional.Default!.DeepClone();
                            }
                            else
                            {
                                o.Remove(key);
                                continue;
                            }
                        }

                        Apply(o[key], additional);
                    }
                }

                break;
            case JsonArray a when schema.Items is { } items:
                for (var i = 0; i < a.Count; i++)
                {
                    if (JsonValues.IsNull(a[i]) && !items.Nullable && items.HasDefault && !JsonValues.IsNull(items.Default))
                    {
                        a[i] = items.Default!.DeepClone();
                    }

                    Apply(a[i], items);
                }

                break;
        }
    }
}
