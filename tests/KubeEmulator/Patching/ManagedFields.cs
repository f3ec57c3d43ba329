using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Errors;

namespace Ferry.KubeEmulator.Patching;

/// <summary>
/// Field ownership (metadata.managedFields) and server-side apply. Simplified against the apiserver: ownership is
/// tracked per leaf field (a scalar, an atomic list, or an empty map), list items are keyed by the strategic-merge
/// keys of built-in kinds (custom resources: <c>x-kubernetes-list-map-keys</c> from the schema, otherwise atomic lists),
/// and a conflict is any leaf another manager owns whose live value differs from the applied one.
/// </summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/server-side-apply/</remarks>
public static class ManagedFields
{
    private const char Separator = '\u0001';

    /// <summary>Applies <paramref name="applied"/> as <paramref name="manager"/> onto <paramref name="live"/> (null on create).</summary>
    /// <param name="subresource">"status" for an apply to the status subresource (recorded in the manager's entry), else null.</param>
    public static JsonObject Apply(JsonObject? live, JsonObject applied, string manager, bool force, Func<string, string?> listKey,
        string apiVersion, DateTimeOffset now, string group, string plural, string name, string? subresource = null)
    {
        var result = live?.DeepClone().AsObject() ?? [];
        var entries = Entries(result);
        var appliedLeaves = Leaves(applied, listKey).Where(p => !IsIdentity(p.Path)).ToDictionary(p => p.Path, p => p.Value);
        bool IsMine(Entry e) => e.Manager == manager && e.Operation == "Apply" && e.Subresource == subresource;

        var conflicts = new List<(Entry Entry, string Path)>();
        foreach (var entry in entries.Where(e => !IsMine(e)))
        {
            foreach (var path in entry.Paths)
            {
                if (appliedLeaves.TryGetValue(path, out var value) && !JsonNode.DeepEquals(Get(result, path), value))
                {
                    conflicts.Add((entry, path));
                }
            }
        }

        // kubectl's server-side apply takes over, without a conflict, the fields that client-side apply recorded in the
        // last-applied-configuration annotation and that still hold the values recorded there (the apiserver's
        // lastAppliedManager): the upgrade path from client-side to server-side apply.
        // https://kubernetes.io/docs/reference/using-api/server-side-apply/#upgrading-from-client-side-apply-to-server-side-apply
        if (!force && conflicts.Count > 0 && manager == "kubectl" && LastApplied(result) is { } lastApplied)
        {
            var allowed = Leaves(lastApplied, listKey).Where(p => JsonNode.DeepEquals(Get(result, p.Path), p.Value)).Select(p => p.Path).ToHashSet();
            force = conflicts.All(c => allowed.Contains(c.Path));
        }

        if (force)
        {
            foreach (var (entry, path) in conflicts)
            {
                entry.Unshare().Remove(path);
            }

            conflicts.Clear();
        }

        if (conflicts.Count > 0)
        {
            var lines = conflicts.Select(c => $"conflict with \"{c.Entry.Manager}\" using {apiVersion}: {Human(c.Path)}").ToList();
            var message = conflicts.Count == 1
                ? $"Apply failed with 1 conflict: {lines[0]}"
                : $"Apply failed with {conflicts.Count} conflicts: " + string.Join("\n", lines);
            var causes = new JsonArray(conflicts.Select(c => (JsonNode)new JsonObject
            {
                ["reason"] = "FieldManagerConflict",
                ["message"] = $"conflict with \"{c.Entry.Manager}\" using {apiVersion}",
                ["field"] = Human(c.Path),
            }).ToArray());
            throw new ApiException(409, "Conflict", message, new JsonObject { ["name"] = name, ["group"] = group, ["kind"] = plural, ["causes"] = causes });
        }

        var mine = entries.FirstOrDefault(IsMine);
        if (mine is not null)
        {
            // A field the manager no longer applies is removed unless another manager also owns it; a list item left with
            // nothing owned in it (a withdrawn condition) goes with it.
            var stillOwned = entries.Where(e => e != mine).SelectMany(e => e.Paths).Concat(appliedLeaves.Keys).ToHashSet();
            var withdrawn = mine.Paths.Where(p => !stillOwned.Contains(p)).ToList();
            foreach (var path in withdrawn)
            {
                Remove(result, path);
            }

            foreach (var item in withdrawn.Select(ItemOf).OfType<string>().Distinct().OrderByDescending(p => p.Length))
            {
                if (!stillOwned.Any(p => p.StartsWith(item + Separator, StringComparison.Ordinal)))
                {
                    Remove(result, item);
                }
            }
        }

        MergeInto(result, applied, "", listKey);
        if (mine is null)
        {
            mine = new Entry(manager, "Apply", apiVersion, subresource, []);
            entries.Add(mine);
        }

        mine.Unshare().Clear();
        mine.Paths.UnionWith(appliedLeaves.Keys);
        mine.Time = now;
        _ = Write(result, entries, null);

        // kubectl's server-side apply keeps an existing last-applied-configuration annotation in step with what it applied
        // (the apiserver's lastAppliedUpdater), so a later client-side apply computes its patch from it.
        if (manager == "kubectl" && LastApplied(result) is not null)
        {
            var config = applied.DeepClone().AsObject();
            if (config["metadata"]?["annotations"] is JsonObject configAnnotations)
            {
                configAnnotations.Remove(LastAppliedAnnotation);
            }

            result["metadata"]!["annotations"]![LastAppliedAnnotation] = config.ToJsonString();
        }

        return result;
    }

    private const string LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

    private static JsonObject? LastApplied(JsonObject obj)
    {
        if ((string?)obj["metadata"]?["annotations"]?[LastAppliedAnnotation] is not { Length: > 0 } text)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(text) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The path of the innermost keyed list item a leaf path lies in, or null.</summary>
    private static string? ItemOf(string path)
    {
        var segs = path.Split(Separator);
        for (var i = segs.Length - 2; i >= 0; i--)
        {
            if (segs[i].StartsWith("k:", StringComparison.Ordinal))
            {
                return string.Join(Separator, segs[..(i + 1)]);
            }
        }

        return null;
    }

    /// <summary>Records a non-apply write: the leaves that changed now belong to <paramref name="manager"/>.</summary>
    public static void RecordUpdate(JsonObject? before, JsonObject after, string manager, string? subresource, string apiVersion,
        DateTimeOffset now, Func<string, string?> listKey) =>
        RecordUpdate(before, null, after, manager, subresource, apiVersion, now, listKey);

    /// <summary>
    /// <see cref="RecordUpdate(JsonObject?, JsonObject, string, string?, string, DateTimeOffset, Func{string, string?})"/> with
    /// <paramref name="beforeIndex"/>, the entries of <paramref name="before"/> as an earlier write left them (null: read them
    /// from <paramref name="before"/>). Returns the entries now written to <paramref name="after"/>, for the next write.
    /// </summary>
    internal static ManagedFieldsIndex RecordUpdate(JsonObject? before, ManagedFieldsIndex? beforeIndex, JsonObject after, string manager,
        string? subresource, string apiVersion, DateTimeOffset now, Func<string, string?> listKey)
    {
        var entries = beforeIndex?.Entries.Select(Entry.Sharing).ToList() ?? Entries(before ?? []);
        var changed = new HashSet<string>();
        ChangedLeaves(before, after, "", "", listKey, changed);

        if (changed.Count > 0)
        {
            foreach (var e in entries)
            {
                e.Remove(changed);
            }

            var mine = entries.FirstOrDefault(e => e.Manager == manager && e.Operation == "Update" && e.Subresource == subresource);
            if (mine is null)
            {
                mine = new Entry(manager, "Update", apiVersion, subresource, []);
                entries.Add(mine);
            }

            mine.Own(changed);
            mine.Time = now;
        }

        return Write(after, entries, before);
    }

    /// <summary>
    /// Adds the leaf paths of <paramref name="after"/> that are missing from <paramref name="before"/> or hold another value.
    /// Objects present on both sides are compared key by key, so subtrees equal on both sides (most of an object on a typical
    /// write) are skipped without listing their leaves; anything else is compared leaf by leaf.
    /// </summary>
    private static void ChangedLeaves(JsonObject? before, JsonObject after, string path, string dotted, Func<string, string?> listKey, HashSet<string> changed)
    {
        // Only the root and metadata hold server-managed fields (see IsIdentity).
        var mayHoldIdentity = path.Length == 0 || path == "f:metadata";
        foreach (var (k, v) in after)
        {
            var childPath = mayHoldIdentity ? ChildPath(path, k) : null;
            if (childPath is not null && IsIdentity(childPath) && v is not JsonObject { Count: > 0 })
            {
                // A server-managed field (managedFields itself, resourceVersion, uid...) is never owned.
                continue;
            }

            JsonNode? old = null;
            var hasOld = before is not null && before.TryGetPropertyValue(k, out old);

            // At the top level (metadata, spec, status) equal subtrees are skipped whole: both sides are usually still lazily
            // parsed there, and comparing them so is cheaper than walking them key by key. Deeper down (where one side has
            // usually been built or changed in memory) objects are walked instead, so a differing subtree is not compared twice.
            var bothObjects = hasOld && v is JsonObject { Count: > 0 } && old is JsonObject { Count: > 0 };
            if (hasOld && (path.Length == 0 || !bothObjects) && JsonNode.DeepEquals(old, v))
            {
                continue;
            }

            childPath ??= ChildPath(path, k);
            var childDotted = dotted.Length == 0 ? k : dotted + "." + k;

            if (bothObjects)
            {
                ChangedLeaves((JsonObject)old!, (JsonObject)v!, childPath, childDotted, listKey, changed);
                continue;
            }

            var newLeaves = new List<(string, JsonNode?)>();
            Walk(v, childPath, childDotted, listKey, newLeaves);
            Dictionary<string, JsonNode?>? oldLeaves = null;
            if (hasOld)
            {
                var list = new List<(string, JsonNode?)>();
                Walk(old, childPath, childDotted, listKey, list);
                oldLeaves = list.ToDictionary(p => p.Item1, p => p.Item2);
            }

            foreach (var (leaf, value) in newLeaves)
            {
                if (!IsIdentity(leaf) && (oldLeaves is null || !oldLeaves.TryGetValue(leaf, out var was) || !JsonNode.DeepEquals(was, value)))
                {
                    changed.Add(leaf);
                }
            }
        }
    }

    private static string ChildPath(string path, string key) => path.Length == 0 ? "f:" + key : path + Separator + "f:" + key;

    private static readonly string MetadataPrefix = "f:metadata" + Separator;
    private static readonly string[] ServerManagedMetadata =
        [MetadataPrefix + "f:uid", MetadataPrefix + "f:creationTimestamp", MetadataPrefix + "f:generation", MetadataPrefix + "f:resourceVersion", MetadataPrefix + "f:managedFields"];

    private static readonly string MetadataName = MetadataPrefix + "f:name";
    private static readonly string MetadataNamespace = MetadataPrefix + "f:namespace";

    private static bool IsIdentity(string path)
    {
        if (path is "f:apiVersion" or "f:kind")
        {
            return true;
        }

        if (!path.StartsWith(MetadataPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (path == MetadataName || path == MetadataNamespace)
        {
            return true;
        }

        foreach (var prefix in ServerManagedMetadata)
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private sealed class Entry(string manager, string operation, string apiVersion, string? subresource, HashSet<string> paths)
    {
        private bool _shared;

        public string Manager { get; } = manager;
        public string Operation { get; } = operation;
        public string ApiVersion { get; } = apiVersion;
        public string? Subresource { get; } = subresource;

        /// <summary>The owned leaf paths (read-only while shared with a <see cref="ManagedFieldsIndex"/>; see <see cref="Own"/> and <see cref="Remove"/>).</summary>
        public HashSet<string> Paths { get; private set; } = paths;

        public DateTimeOffset? Time { get; set; }
        public string? OriginalTime { get; init; }

        /// <summary>An entry whose path set belongs to an index: copied before its first change.</summary>
        public static Entry Sharing(IndexedEntry e) =>
            new(e.Manager, e.Operation, e.ApiVersion, e.Subresource, e.Paths) { OriginalTime = e.Time, OriginalCount = e.Paths.Count, Indexed = true, Source = e, _shared = true };

        /// <summary>The index entry this one was made from.</summary>
        public IndexedEntry? Source { get; private init; }

        /// <summary>True when the entry comes from an index (its JSON in the object written before can be reused while it is unchanged).</summary>
        public bool Indexed { get; private init; }

        public void Remove(HashSet<string> paths)
        {
            if (Paths.Overlaps(paths))
            {
                Unshare();
                Paths.ExceptWith(paths);
            }
        }

        public void Own(HashSet<string> paths)
        {
            Unshare();
            Paths.UnionWith(paths);
        }

        /// <summary>Makes <see cref="Paths"/> this entry's own before it is changed in place.</summary>
        public HashSet<string> Unshare()
        {
            if (_shared)
            {
                Paths = new HashSet<string>(Paths, Paths.Comparer);
                _shared = false;
            }

            return Paths;
        }

        /// <summary>The stored entry when it is already in the form <see cref="Write"/> produces (so it can be copied as is).</summary>
        public JsonObject? Canonical { get; init; }

        /// <summary>The number of paths read from the stored entry; a change of count means the entry must be rewritten.</summary>
        public int OriginalCount { get; init; } = -1;
    }

    private static List<Entry> Entries(JsonObject obj)
    {
        var list = new List<Entry>();
        if (obj["metadata"]?["managedFields"] is JsonArray array)
        {
            foreach (var e in array.OfType<JsonObject>())
            {
                var paths = new HashSet<string>();
                if (e["fieldsV1"] is JsonObject f)
                {
                    Flatten(f, "", paths);
                }

                list.Add(new Entry((string?)e["manager"] ?? "", (string?)e["operation"] ?? "Update", (string?)e["apiVersion"] ?? "",
                    (string?)e["subresource"], paths) { OriginalTime = (string?)e["time"], Canonical = IsCanonical(e) ? e : null, OriginalCount = paths.Count });
            }
        }

        return list;
    }

    /// <param name="obj">The object to write metadata.managedFields into.</param>
    /// <param name="entries">The entries.</param>
    /// <param name="before">The object the entries' index was computed for (its entries are copied while unchanged).</param>
    private static ManagedFieldsIndex Write(JsonObject obj, List<Entry> entries, JsonObject? before)
    {
        var beforeArray = before?["metadata"]?["managedFields"] as JsonArray;
        if (obj["metadata"] is not JsonObject meta)
        {
            obj["metadata"] = meta = [];
        }

        var array = new JsonArray();
        var index = new List<IndexedEntry>(entries.Count);
        foreach (var e in entries.Where(e => e.Paths.Count > 0))
        {
            if ((e.Indexed || e.Canonical is not null) && e.Time is null && e.Paths.Count == e.OriginalCount)
            {
                // Untouched (paths are only ever removed from an existing entry, so an equal count means equal paths).
                // The stored entry, copied: still lazily parsed, so copying and writing it out are cheap.
                var unchanged = e.Source is { } source
                    ? beforeArray is not null && source.Position < beforeArray.Count && beforeArray[source.Position] is JsonObject stored
                        && (string?)stored["manager"] == e.Manager ? stored : null
                    : e.Canonical;
                if (unchanged is not null)
                {
                    array.Add(unchanged.DeepClone());
                    index.Add(new IndexedEntry(e.Manager, e.Operation, e.ApiVersion, e.Subresource, e.OriginalTime, e.Paths, array.Count - 1));
                    continue;
                }
            }

            var time = e.Time is { } t ? Rfc3339(t) : e.OriginalTime;
            var fields = Unflatten(e.Paths, out var nested);
            var entry = new JsonObject
            {
                ["manager"] = e.Manager,
                ["operation"] = e.Operation,
                ["apiVersion"] = e.ApiVersion,
                ["time"] = time,
                ["fieldsType"] = "FieldsV1",
                ["fieldsV1"] = fields,
            };
            if (e.Subresource is not null)
            {
                entry["subresource"] = e.Subresource;
            }

            // What reading the written entry back gives: the same paths, unless one path is a prefix of another (the tree
            // then keeps only the longer one), in which case the set is taken from the tree, as Entries would.
            var written = e.Paths;
            if (nested)
            {
                written = [];
                Flatten(fields, "", written);
            }

            array.Add(entry);
            index.Add(new IndexedEntry(e.Manager, e.Operation, e.ApiVersion, e.Subresource, time, written, array.Count - 1));
        }

        if (array.Count > 0)
        {
            meta["managedFields"] = array;
        }
        else
        {
            // No manager owns anything: the apiserver writes no managedFields at all.
            meta.Remove("managedFields");
        }

        return new ManagedFieldsIndex(index);
    }

    private static readonly string[] CanonicalEntryKeys = ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"];

    /// <summary>True when <paramref name="entry"/> is exactly what <see cref="Write"/> would make of it: the same keys in the
    /// same order, string values, and fieldsV1 with keys in ordinal order, no "." markers and empty objects as leaves.</summary>
    private static bool IsCanonical(JsonObject entry)
    {
        if (entry.Count is not (6 or 7))
        {
            return false;
        }

        var i = 0;
        foreach (var (k, v) in entry)
        {
            if (k != CanonicalEntryKeys[i++])
            {
                return false;
            }

            var ok = k switch
            {
                "fieldsType" => v is JsonValue t && t.TryGetValue<string>(out var type) && type == "FieldsV1",
                "fieldsV1" => v is JsonObject { Count: > 0 } f && IsCanonicalFields(f),
                "time" => v is null || (v is JsonValue s && s.TryGetValue<string>(out _)),
                _ => v is JsonValue s2 && s2.TryGetValue<string>(out _),
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsCanonicalFields(JsonObject node)
    {
        string? previous = null;
        foreach (var (k, v) in node)
        {
            if (k == "." || (previous is not null && string.CompareOrdinal(previous, k) >= 0) || v is not JsonObject child || !IsCanonicalFields(child))
            {
                return false;
            }

            previous = k;
        }

        return true;
    }

    internal static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static void Flatten(JsonObject node, string prefix, HashSet<string> into)
    {
        foreach (var (k, v) in node)
        {
            if (k == ".")
            {
                continue;
            }

            var path = prefix.Length == 0 ? k : prefix + Separator + k;
            if (v is JsonObject child && child.Any(c => c.Key != "."))
            {
                Flatten(child, path, into);
            }
            else
            {
                into.Add(path);
            }
        }
    }

    /// <param name="paths">Leaf paths.</param>
    /// <param name="nested">Set when a path is a prefix of another (in ordinal order such a pair is adjacent).</param>
    private static JsonObject Unflatten(IEnumerable<string> paths, out bool nested)
    {
        var root = new JsonObject();
        nested = false;
        string? previous = null;
        foreach (var p in paths.Order(StringComparer.Ordinal))
        {
            if (previous is not null && p.Length > previous.Length && p[previous.Length] == Separator && p.StartsWith(previous, StringComparison.Ordinal))
            {
                nested = true;
            }

            previous = p;
            var node = root;
            foreach (var seg in p.Split(Separator))
            {
                if (node[seg] is not JsonObject next)
                {
                    node[seg] = next = [];
                }

                node = next;
            }
        }

        return root;
    }

    /// <summary>Leaf paths of an object, list items keyed as <c>k:{"name":"x"}</c>.</summary>
    private static IEnumerable<(string Path, JsonNode? Value)> Leaves(JsonObject obj, Func<string, string?> listKey)
    {
        var result = new List<(string, JsonNode?)>();
        Walk(obj, "", "", listKey, result);
        return result;
    }

    private static void Walk(JsonNode? node, string path, string dotted, Func<string, string?> listKey, List<(string, JsonNode?)> into)
    {
        switch (node)
        {
            case JsonObject o when o.Count > 0:
                foreach (var (k, v) in o)
                {
                    Walk(v, path.Length == 0 ? "f:" + k : path + Separator + "f:" + k, dotted.Length == 0 ? k : dotted + "." + k, listKey, into);
                }

                break;
            case JsonArray a when listKey(dotted) is { } key && a.All(i => i is JsonObject io && io[key] is not null):
                foreach (var item in a.OfType<JsonObject>())
                {
                    // The same text as serializing {key: value}, without building that object.
                    var itemPath = path + Separator + "k:{" + System.Text.Json.JsonSerializer.Serialize(key) + ":" + item[key]!.ToJsonString() + "}";
                    var rest = item.Where(p => p.Key != key).ToList();
                    if (rest.Count == 0)
                    {
                        into.Add((itemPath + Separator + "f:" + key, item[key]));
                    }

                    foreach (var (k, v) in rest)
                    {
                        Walk(v, itemPath + Separator + "f:" + k, dotted + "." + k, listKey, into);
                    }
                }

                break;
            default:
                into.Add((path, node));
                break;
        }
    }

    private static JsonNode? Get(JsonObject root, string path)
    {
        JsonNode? node = root;
        foreach (var seg in path.Split(Separator))
        {
            node = Step(node, seg, out _, out _);
            if (node is null)
            {
                return null;
            }
        }

        return node;
    }

    private static JsonNode? Step(JsonNode? node, string seg, out JsonArray? inArray, out int index)
    {
        inArray = null;
        index = -1;
        if (seg.StartsWith("f:", StringComparison.Ordinal))
        {
            return (node as JsonObject)?[seg[2..]];
        }

        if (seg.StartsWith("k:", StringComparison.Ordinal) && node is JsonArray array)
        {
            var key = JsonNode.Parse(seg[2..])!.AsObject().First();
            for (var i = 0; i < array.Count; i++)
            {
                if (array[i] is JsonObject item && JsonNode.DeepEquals(item[key.Key], key.Value))
                {
                    inArray = array;
                    index = i;
                    return item;
                }
            }
        }

        return null;
    }

    private static void Remove(JsonObject root, string path)
    {
        var segs = path.Split(Separator);
        JsonNode? node = root;
        for (var i = 0; i < segs.Length - 1; i++)
        {
            node = Step(node, segs[i], out _, out _);
            if (node is null)
            {
                return;
            }
        }

        var last = segs[^1];
        if (last.StartsWith("f:", StringComparison.Ordinal) && node is JsonObject o)
        {
            o.Remove(last[2..]);
        }
        else if (Step(node, last, out var array, out var index) is not null && array is not null)
        {
            array.RemoveAt(index);
        }
    }

    private static void MergeInto(JsonObject target, JsonObject applied, string dotted, Func<string, string?> listKey)
    {
        foreach (var (k, v) in applied)
        {
            var childDotted = dotted.Length == 0 ? k : dotted + "." + k;
            if (v is JsonObject vo && target[k] is JsonObject to)
            {
                MergeInto(to, vo, childDotted, listKey);
            }
            else if (v is JsonArray va && target[k] is JsonArray ta && listKey(childDotted) is { } key)
            {
                foreach (var item in va)
                {
                    if (item is JsonObject io && ta.OfType<JsonObject>().FirstOrDefault(t => JsonNode.DeepEquals(t[key], io[key])) is { } existing)
                    {
                        MergeInto(existing, io, childDotted, listKey);
                    }
                    else
                    {
                        ta.Add(item?.DeepClone());
                    }
                }
            }
            else
            {
                target[k] = v?.DeepClone();
            }
        }
    }

    /// <summary>A path as the apiserver prints it in conflict messages: <c>.spec.inputs[name="a"].uri</c>.</summary>
    private static string Human(string path)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var seg in path.Split(Separator))
        {
            if (seg.StartsWith("f:", StringComparison.Ordinal))
            {
                sb.Append('.').Append(seg[2..]);
            }
            else if (seg.StartsWith("k:", StringComparison.Ordinal))
            {
                var kv = JsonNode.Parse(seg[2..])!.AsObject().First();
                sb.Append('[').Append(kv.Key).Append('=').Append(kv.Value?.ToJsonString()).Append(']');
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// An object's managedFields as its last write left them, kept with the stored object so the next write need not read them
/// back from JSON. Immutable: the path sets are never changed (writes copy what they change).
/// </summary>
internal sealed class ManagedFieldsIndex(IReadOnlyList<IndexedEntry> entries)
{
    public IReadOnlyList<IndexedEntry> Entries { get; } = entries;
}

/// <summary>One managedFields entry as written: its identity, time, owned leaf paths and its position in the written array.</summary>
internal sealed record IndexedEntry(string Manager, string Operation, string ApiVersion, string? Subresource, string? Time,
    HashSet<string> Paths, int Position);
