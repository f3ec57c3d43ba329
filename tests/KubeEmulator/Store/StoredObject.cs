using System.Text.Json.Nodes;
using System.Text.Json;

namespace Ferry.KubeEmulator.Store;

/// <summary>An immutable snapshot of one stored object: its JSON bytes plus the few fields selectors and GC need.</summary>
public sealed class StoredObject
{
    private StoredObject(string ns, string name, string uid, long resourceVersion, byte[] json,
        IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<string, string> fields,
        IReadOnlyList<string> finalizers, IReadOnlyList<OwnerReference> owners, bool isDeleting)
    {
        Namespace = ns;
        Name = name;
        Uid = uid;
        ResourceVersion = resourceVersion;
        Json = json;
        Labels = labels;
        Fields = fields;
        Finalizers = finalizers;
        Owners = owners;
        IsDeleting = isDeleting;
    }

    public string Namespace { get; }
    public string Name { get; }
    public string Uid { get; }
    public long ResourceVersion { get; }

    /// <summary>The serialized object (UTF-8 JSON); never mutated.</summary>
    public byte[] Json { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    /// <summary>Values of the built-in kinds' selectable fields present on this object (see <see cref="FieldValue"/>).</summary>
    public IReadOnlyDictionary<string, string> Fields { get; }

    public IReadOnlyList<string> Finalizers { get; }
    public IReadOnlyList<OwnerReference> Owners { get; }
    public bool IsDeleting { get; }

    /// <summary>The managedFields as the write that stored this object computed them (null: read them from <see cref="Json"/>).</summary>
    internal Patching.ManagedFieldsIndex? ManagedFieldsIndex { get; private init; }

    public string Key => KeyOf(Namespace, Name);

    /// <summary>A fresh, mutable copy of the object.</summary>
    public JsonObject ToJsonObject() => JsonNode.Parse(Json)!.AsObject();

    public static string KeyOf(string ns, string name) => ns.Length == 0 ? name : ns + "/" + name;

    /// <summary>Snapshots <paramref name="obj"/> (which must already carry its final metadata).</summary>
    public static StoredObject From(JsonObject obj, long resourceVersion) => From(obj, resourceVersion, null);

    /// <summary>Snapshots <paramref name="obj"/>, keeping <paramref name="managedFields"/> (computed for its metadata.managedFields) for the next write.</summary>
    internal static StoredObject From(JsonObject obj, long resourceVersion, Patching.ManagedFieldsIndex? managedFields)
    {
        var meta = obj["metadata"] as JsonObject ?? [];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (meta["labels"] is JsonObject l)
        {
            foreach (var (k, v) in l)
            {
                labels[k] = v?.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v?.ToJsonString() ?? "";
            }
        }

        var ns = Str(meta["namespace"]);
        var name = Str(meta["name"]);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["metadata.name"] = name,
            ["metadata.namespace"] = ns,
        };
        foreach (var path in IndexedFields)
        {
            if (Walk(obj, path) is JsonValue value)
            {
                fields[path] = Str(value);
            }
        }

        if (obj["source"] is JsonObject source)
        {
            // The core Event's selectable field "source" is its source.component.
            fields["source"] = Str(source["component"]);
        }

        var finalizers = meta["finalizers"] is JsonArray f ? f.Select(Str).ToArray() : [];
        var owners = new List<OwnerReference>();
        if (meta["ownerReferences"] is JsonArray refs)
        {
            foreach (var r in refs.OfType<JsonObject>())
            {
                owners.Add(new OwnerReference(Str(r["apiVersion"]), Str(r["kind"]), Str(r["name"]), Str(r["uid"]),
                    r["blockOwnerDeletion"]?.GetValueKind() == JsonValueKind.True,
                    r["controller"]?.GetValueKind() == JsonValueKind.True));
            }
        }

        return new StoredObject(ns, name, Str(meta["uid"]), resourceVersion, Serialization.JsonOutput.Bytes(obj),
            labels, fields, finalizers, owners, meta["deletionTimestamp"] is not null) { ManagedFieldsIndex = managedFields };
    }

    /// <summary>The value a field selector compares for <paramref name="path"/> (a dotted path; "" when absent).</summary>
    public string FieldValue(string path)
    {
        if (Fields.TryGetValue(path, out var value))
        {
            return value;
        }

        if (path == "spec.hostNetwork")
        {
            return "false";
        }

        // A custom resource's declared selectableFields: read from the object (only lists that select on them pay for this).
        return IndexedFields.Contains(path) || path == "source" ? "" : Walk(ToJsonObject(), path) is JsonValue v ? Str(v) : "";
    }

    /// <summary>The selectable fields of the built-in kinds, kept with each object so selections need not parse it.</summary>
    private static readonly HashSet<string> IndexedFields =
    [
        "status.phase", "status.podIP", "status.nominatedNodeName", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "spec.hostNetwork", "spec.clusterIP", "spec.type", "type", "reason", "reportingComponent",
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
        "involvedObject.resourceVersion", "involvedObject.fieldPath",
    ];

    private static JsonNode? Walk(JsonObject obj, string path)
    {
        JsonNode? node = obj;
        foreach (var segment in path.Split('.'))
        {
            node = node is JsonObject o ? o[segment] : null;
        }

        return node;
    }

    private static string Str(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : node?.ToJsonString() ?? "";
}

/// <summary>One entry of metadata.ownerReferences.</summary>
public sealed record OwnerReference(string ApiVersion, string Kind, string Name, string Uid, bool BlockOwnerDeletion, bool Controller);
