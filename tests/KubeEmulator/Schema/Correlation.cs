using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>The old value at the same place as a new value on update, when one can be found.</summary>
/// <remarks>Objects and maps correlate by key, `x-kubernetes-list-type: map` items by their keys; atomic and set list
/// items never correlate. Used for `oldSelf` and for validation ratcheting
/// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-ratcheting).</remarks>
internal readonly record struct Correlation(bool Exists, JsonNode? Old)
{
    public static Correlation None => default;

    public static Correlation Of(JsonNode? old) => new(old is not null, old);

    /// <summary>True when a correlated old value exists and deep-equals <paramref name="value"/>.</summary>
    public bool Unchanged(JsonNode? value) => Exists && JsonValues.DeepEquals(value, Old);

    public Correlation Key(string key) =>
        Exists && Old is JsonObject o && o.TryGetPropertyValue(key, out var child) ? new Correlation(true, child) : None;

    public Correlation Item(JsonNode? item, StructuralSchema listSchema)
    {
        if (!Exists || Old is not JsonArray oldItems || listSchema.ListType != "map" || listSchema.ListMapKeys.Count == 0
            || item is not JsonObject o)
        {
            return None;
        }

        var match = oldItems.OfType<JsonObject>().FirstOrDefault(old => listSchema.ListMapKeys.All(k => JsonValues.DeepEquals(old[k], o[k])));
        return match is null ? None : new Correlation(true, match);
    }
}
