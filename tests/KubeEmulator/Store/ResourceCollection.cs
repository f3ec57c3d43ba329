using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Ferry.KubeEmulator.Store;

/// <summary>The objects of one group/plural (shared by all its served versions), keyed by namespace/name.</summary>
public sealed class ResourceCollection(string group, string plural)
{
    public string Group { get; } = group;
    public string Plural { get; } = plural;

    internal ConcurrentDictionary<string, StoredObject> Objects { get; } = new(StringComparer.Ordinal);

    /// <summary>Live watch subscriptions; replaced (copy-on-write) under the store's commit lock.</summary>
    internal ImmutableArray<WatchSubscription> Subscribers { get; set; } = [];

    public int Count => Objects.Count;

    public StoredObject? Get(string ns, string name) => Objects.TryGetValue(StoredObject.KeyOf(ns, name), out var o) ? o : null;

    /// <summary>All objects (optionally of one namespace) sorted by key, as etcd returns them.</summary>
    public List<StoredObject> Snapshot(string? ns)
    {
        var list = new List<StoredObject>(Objects.Count);
        foreach (var o in Objects.Values)
        {
            if (ns is null || o.Namespace == ns)
            {
                list.Add(o);
            }
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return list;
    }
}
