using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Serialization;
using Ferry.KubeEmulator.Store;

namespace Ferry.KubeEmulator.Resources;

/// <summary>The served resources: built-in kinds plus those registered by CustomResourceDefinitions.</summary>
public sealed class ResourceRegistry
{
    private readonly ConcurrentDictionary<string, ApiResource> _resources = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ResourceCollection> _collections = new(StringComparer.Ordinal);
    private int _generation;

    public ResourceRegistry()
    {
        foreach (var (group, version, kind, plural, namespaced, status, shortNames, categories) in BuiltInResources.All())
        {
            Add(new ApiResource
            {
                Group = group,
                Version = version,
                Kind = kind,
                Plural = plural,
                Singular = kind.ToLowerInvariant(),
                Namespaced = namespaced,
                HasStatusSubresource = status,
                ShortNames = shortNames,
                Categories = categories,
                SelectableFields = BuiltInResources.SelectableFields(group, plural),
                ToServed = (group, plural) is ("events.k8s.io", "events") ? EventConversion.ToEventsV1 : null,
                ToStored = (group, plural) is ("events.k8s.io", "events") ? EventConversion.ToCore : null,
                Collection = CollectionFor(BuiltInResources.StorageGroup(group, plural), plural),
            });
        }
    }

    /// <summary>Changes whenever a resource is registered or removed (discovery and OpenAPI documents depend on it).</summary>
    public int Generation => Volatile.Read(ref _generation);

    public IEnumerable<ApiResource> All => _resources.Values.OrderBy(r => r.Group, StringComparer.Ordinal).ThenBy(r => r.Version, StringComparer.Ordinal).ThenBy(r => r.Plural, StringComparer.Ordinal);

    public ApiResource? Find(string group, string version, string plural) =>
        _resources.TryGetValue($"{group}/{version}/{plural}", out var r) ? r : null;

    public ApiResource? FindByKind(string apiVersion, string kind)
    {
        var slash = apiVersion.IndexOf('/');
        var (group, version) = slash < 0 ? ("", apiVersion) : (apiVersion[..slash], apiVersion[(slash + 1)..]);
        return _resources.Values.FirstOrDefault(r => r.Group == group && r.Version == version && r.Kind == kind);
    }

    /// <summary>Any served version of the resource stored in <paramref name="collection"/>.</summary>
    public ApiResource? ForCollection(ResourceCollection collection) =>
        _resources.Values.Where(r => r.Collection == collection).OrderBy(r => r.Version, StringComparer.Ordinal).FirstOrDefault();

    /// <summary>The number of served versions sharing a collection (more than one means apiVersion must be rewritten on read).</summary>
    public int VersionsOf(ResourceCollection collection) => _resources.Values.Count(r => r.Collection == collection);

    public IEnumerable<string> GroupVersions => _resources.Values.Select(r => r.GroupVersion).Distinct().Order(StringComparer.Ordinal);

    /// <summary>Registers (or re-registers) the served versions of a CustomResourceDefinition.</summary>
    /// <remarks>https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/</remarks>
    public IReadOnlyList<ApiResource> RegisterCrd(JsonObject crd)
    {
        var spec = crd["spec"]!.AsObject();
        var group = (string)spec["group"]!;
        var names = spec["names"]!.AsObject();
        var plural = (string)names["plural"]!;
        var kind = (string)names["kind"]!;
        var singular = (string?)names["singular"] ?? kind.ToLowerInvariant();
        var shortNames = names["shortNames"] is JsonArray sn ? sn.Select(s => (string)s!).ToArray() : [];
        var categories = names["categories"] is JsonArray cat ? cat.Select(s => (string)s!).ToArray() : [];
        var namespaced = (string?)spec["scope"] != "Cluster";
        var collection = CollectionFor(group, plural);
        Unregister(group, plural, keepCollection: true);
        var added = new List<ApiResource>();
        foreach (var v in (spec["versions"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if (v["served"]?.GetValue<bool>() == false)
            {
                continue;
            }

            var columns = new List<PrinterColumn>();
            foreach (var c in (v["additionalPrinterColumns"] as JsonArray ?? []).OfType<JsonObject>())
            {
                columns.Add(new PrinterColumn((string)c["name"]!, (string?)c["type"] ?? "string", (string?)c["format"],
                    (string?)c["description"] ?? "", (string)c["jsonPath"]!, (int)(c["priority"].AsLong() ?? 0)));
            }

            var resource = new ApiResource
            {
                Group = group,
                Version = (string)v["name"]!,
                Kind = kind,
                Plural = plural,
                Singular = singular,
                Namespaced = namespaced,
                ShortNames = shortNames,
                Categories = categories,
                HasStatusSubresource = v["subresources"]?["status"] is not null,
                IsCustom = true,
                Schema = v["schema"]?["openAPIV3Schema"]?.DeepClone().AsObject(),
                PrinterColumns = columns,
                SelectableFields = ApiResource.SelectableFieldsOf((v["selectableFields"] as JsonArray ?? []).OfType<JsonObject>()
                    .Select(f => ((string?)f["jsonPath"] ?? "").TrimStart('.')).Where(f => f.Length > 0)
                    .Where(f => namespaced || f != "metadata.namespace")),
                Collection = collection,
            };
            Add(resource);
            added.Add(resource);
        }

        Interlocked.Increment(ref _generation);
        return added;
    }

    /// <summary>Stops serving a custom resource (its CRD was deleted).</summary>
    public void Unregister(string group, string plural, bool keepCollection = false)
    {
        foreach (var key in _resources.Where(p => p.Value.Group == group && p.Value.Plural == plural && p.Value.IsCustom).Select(p => p.Key).ToList())
        {
            _resources.TryRemove(key, out _);
        }

        if (!keepCollection)
        {
            _collections.TryRemove($"{group}/{plural}", out _);
        }

        Interlocked.Increment(ref _generation);
    }

    private ResourceCollection CollectionFor(string group, string plural) =>
        _collections.GetOrAdd($"{group}/{plural}", _ => new ResourceCollection(group, plural));

    private void Add(ApiResource r) => _resources[$"{r.Group}/{r.Version}/{r.Plural}"] = r;
}
