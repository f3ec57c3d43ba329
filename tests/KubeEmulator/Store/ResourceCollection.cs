using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Ferry.KubeEmulator.Store;

/// <summary>The objects of one group/plural (shared by all its served versions), keyed by namespace/name.</summary>
public sealed class ResourceCollection(string group, string plural)
{
    private volatile CollectionState _state = CollectionState.Empty;

    public string Group { get; } = group;
    public string Plural { get; } = plural;

    /// <summary>The current objects by key, for point reads.</summary>
    internal ConcurrentDictionary<string, StoredObject> Objects { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// An immutable, key-sorted view of the objects after the latest write to this collection. Replaced under the store's
    /// commit lock at every write (after <see cref="Objects"/>), so a list reads a consistent snapshot without the lock.
    /// </summary>
    internal CollectionState State
    {
        get => _state;
        set => _state = value;
    }

    /// <summary>Live watch subscriptions; replaced (copy-on-write) under the store's commit lock.</summary>
    internal ImmutableArray<WatchSubscription> Subscribers { get; set; } = [];

    public int Count => Objects.Count;

    public StoredObject? Get(string ns, string name) => Objects.TryGetValue(StoredObject.KeyOf(ns, name), out var o) ? o : null;

    /// <summary>All objects (optionally of one namespace) sorted by key, as etcd returns them.</summary>
    public List<StoredObject> Snapshot(string? ns) => State.Select(ns);
}

/// <summary>The objects of a collection as of one write: sorted by key, never mutated.</summary>
/// <param name="Items">Objects by namespace/name key, in ordinal key order.</param>
/// <param name="ResourceVersion">The resourceVersion of the write that produced this state (0 before any write).</param>
internal sealed record CollectionState(ImmutableSortedDictionary<string, StoredObject> Items, long ResourceVersion)
{
    public static readonly CollectionState Empty = new(ImmutableSortedDictionary.Create<string, StoredObject>(StringComparer.Ordinal), 0);

    /// <summary>The objects (optionally of one namespace), in key order.</summary>
    public List<StoredObject> Select(string? ns)
    {
        var list = new List<StoredObject>(ns is null ? Items.Count : 0);
        foreach (var (_, o) in Items)
        {
            if (ns is null || o.Namespace == ns)
            {
                list.Add(o);
            }
        }

        return list;
    }
}
