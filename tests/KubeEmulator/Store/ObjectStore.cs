using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Errors;

namespace Ferry.KubeEmulator.Store;

/// <summary>
/// The storage: one global monotonic resourceVersion, per-collection concurrent dictionaries for reads, a short commit
/// lock for writes (so resourceVersions and event order agree), and a bounded ring of recent events for watch resume.
/// </summary>
/// <remarks>resourceVersion semantics: https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions</remarks>
public sealed class ObjectStore
{
    private readonly Lock _commitLock = new();
    private readonly WatchEvent?[] _ring;
    private readonly Dictionary<string, HashSet<(ResourceCollection Collection, string Key)>> _dependents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (ResourceCollection Collection, string Key)> _byUid = new(StringComparer.Ordinal);
    private readonly List<WatchSubscription> _allSubscriptions = [];
    private long _resourceVersion;
    private long _committed;
    private long _evictedUpTo;
    private int _ringHead;
    private int _ringCount;

    public ObjectStore(int eventHistory)
    {
        _ring = new WatchEvent?[Math.Max(16, eventHistory)];
    }

    /// <summary>The resourceVersion of the latest committed write.</summary>
    public long ResourceVersion => Volatile.Read(ref _committed);

    /// <summary>Watches starting from a resourceVersion below this get 410 Gone.</summary>
    public long OldestResumableVersion
    {
        get { lock (_commitLock) { return _evictedUpTo; } }
    }

    /// <summary>Raised after each commit, outside the lock (used by the kubelet and garbage collection).</summary>
    public event Action<WatchEvent>? Committed;

    /// <summary>
    /// Commits a write. <paramref name="expected"/> is the snapshot the caller computed from (null for create); when the
    /// stored object is no longer that snapshot the commit is refused (returns null) and the caller recomputes.
    /// </summary>
    public StoredObject? Commit(ResourceCollection collection, WatchEventType type, JsonObject obj, StoredObject? expected, Func<string, ApiException>? alreadyExists = null) =>
        Commit(collection, type, obj, expected, alreadyExists, null);

    /// <summary><see cref="Commit(ResourceCollection, WatchEventType, JsonObject, StoredObject?, Func{string, ApiException}?)"/>
    /// keeping the managedFields index computed for <paramref name="obj"/> with the stored object.</summary>
    internal StoredObject? Commit(ResourceCollection collection, WatchEventType type, JsonObject obj, StoredObject? expected,
        Func<string, ApiException>? alreadyExists, Patching.ManagedFieldsIndex? managedFields)
    {
        var meta = obj["metadata"]!.AsObject();
        var key = StoredObject.KeyOf((string?)meta["namespace"] ?? "", (string?)meta["name"] ?? "");
        WatchEvent evt;
        lock (_commitLock)
        {
            collection.Objects.TryGetValue(key, out var current);
            if (type == WatchEventType.Added)
            {
                if (current is not null)
                {
                    throw alreadyExists?.Invoke(key) ?? new ApiException(409, "AlreadyExists", $"{key} already exists");
                }
            }
            else if (!ReferenceEquals(current, expected))
            {
                return null;
            }

            var rv = ++_resourceVersion;
            meta["resourceVersion"] = rv.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var stored = StoredObject.From(obj, rv, managedFields);
            var items = collection.State.Items;
            if (type == WatchEventType.Deleted)
            {
                collection.Objects.TryRemove(key, out _);
                _byUid.Remove(stored.Uid);
                items = items.Remove(key);
            }
            else
            {
                collection.Objects[key] = stored;
                _byUid[stored.Uid] = (collection, key);
                items = items.SetItem(key, stored);
            }

            // Published before _committed, so a reader that sees _committed at rv also sees this state (see Snapshot).
            collection.State = new CollectionState(items, rv);

            IndexOwners(current, type == WatchEventType.Deleted ? null : stored, collection, key);
            evt = new WatchEvent(rv, type, collection, stored, current);
            Append(evt);
            foreach (var sub in collection.Subscribers)
            {
                if (sub.Namespace is null || sub.Namespace == stored.Namespace)
                {
                    sub.Events.Writer.TryWrite(evt);
                }
            }

            Volatile.Write(ref _committed, rv);
        }

        Committed?.Invoke(evt);
        return evt.Object;
    }

    /// <summary>The object with this uid, if it exists.</summary>
    public StoredObject? FindByUid(string uid)
    {
        lock (_commitLock)
        {
            if (_byUid.TryGetValue(uid, out var at) && at.Collection.Objects.TryGetValue(at.Key, out var o))
            {
                return o;
            }
        }

        return null;
    }

    /// <summary>A consistent list: the objects (optionally of one namespace, sorted by key) and the resourceVersion they reflect.</summary>
    /// <remarks>Lock-free: writers publish the collection's immutable state before advancing the committed resourceVersion.
    /// If the state is the same before and after reading the committed resourceVersion C, every write to this collection at
    /// or below C is in it (its state was published before C was), and the state holds nothing newer than its own version;
    /// so the state is exactly the collection at max(C, state version).</remarks>
    public (List<StoredObject> Items, long ResourceVersion) Snapshot(ResourceCollection collection, string? ns)
    {
        var (state, rv) = ConsistentState(collection);
        return (state.Select(ns), rv);
    }

    internal (CollectionState State, long ResourceVersion) ConsistentState(ResourceCollection collection)
    {
        while (true)
        {
            var state = collection.State;
            var committed = Volatile.Read(ref _committed);
            if (ReferenceEquals(state, collection.State))
            {
                return (state, Math.Max(committed, state.ResourceVersion));
            }
        }
    }

    /// <summary>Objects whose ownerReferences name <paramref name="ownerUid"/>.</summary>
    public List<(ResourceCollection Collection, StoredObject Object)> Dependents(string ownerUid)
    {
        var result = new List<(ResourceCollection, StoredObject)>();
        lock (_commitLock)
        {
            if (_dependents.TryGetValue(ownerUid, out var set))
            {
                foreach (var (c, k) in set)
                {
                    if (c.Objects.TryGetValue(k, out var o))
                    {
                        result.Add((c, o));
                    }
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Opens a watch. From resourceVersion 0 (or none), the current objects are returned as synthetic ADDED events;
    /// from a given resourceVersion, the retained events after it (410 Gone when they were compacted away).
    /// </summary>
    internal WatchSubscription Subscribe(ResourceCollection collection, string? ns, long? fromVersion, out List<WatchEvent> initial)
    {
        var sub = new WatchSubscription(collection, ns);
        initial = [];
        CollectionState? current = null;
        lock (_commitLock)
        {
            if (fromVersion is null or 0)
            {
                // The state is immutable: taken here (with the subscription) and turned into events outside the lock.
                current = collection.State;
            }
            else
            {
                var from = fromVersion.Value;
                if (from < _evictedUpTo)
                {
                    sub.Dispose();
                    throw ApiException.Expired($"too old resource version: {from} ({_evictedUpTo + 1})");
                }

                for (var i = 0; i < _ringCount; i++)
                {
                    var e = _ring[(_ringHead + i) % _ring.Length]!;
                    if (e.ResourceVersion > from && e.Collection == collection && (ns is null || e.Object.Namespace == ns))
                    {
                        initial.Add(e);
                    }
                }
            }

            collection.Subscribers = collection.Subscribers.Add(sub);
            _allSubscriptions.Add(sub);
            sub.OnDispose = Unsubscribe;
        }

        if (current is not null)
        {
            foreach (var o in current.Select(ns))
            {
                initial.Add(new WatchEvent(o.ResourceVersion, WatchEventType.Added, collection, o, null));
            }
        }

        return sub;
    }

    /// <summary>Forgets all retained events so any watch resuming from an older resourceVersion gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_commitLock)
        {
            _evictedUpTo = _resourceVersion;
            Array.Clear(_ring);
            _ringCount = 0;
            _ringHead = 0;
        }
    }

    /// <summary>Closes every open watch stream (clients see the connection end and must re-watch).</summary>
    public int DropWatches(Func<ResourceCollection, bool>? which = null)
    {
        List<WatchSubscription> subs;
        lock (_commitLock)
        {
            subs = _allSubscriptions.Where(s => which?.Invoke(s.Collection) ?? true).ToList();
        }

        foreach (var s in subs)
        {
            s.Drop();
        }

        return subs.Count;
    }

    /// <summary>The number of open watch streams.</summary>
    public int OpenWatches
    {
        get { lock (_commitLock) { return _allSubscriptions.Count; } }
    }

    private void Unsubscribe(WatchSubscription sub)
    {
        lock (_commitLock)
        {
            sub.Collection.Subscribers = sub.Collection.Subscribers.Remove(sub);
            _allSubscriptions.Remove(sub);
        }

        sub.Events.Writer.TryComplete();
    }

    private void Append(WatchEvent evt)
    {
        if (_ringCount == _ring.Length)
        {
            _evictedUpTo = _ring[_ringHead]!.ResourceVersion;
            _ring[_ringHead] = evt;
            _ringHead = (_ringHead + 1) % _ring.Length;
        }
        else
        {
            _ring[(_ringHead + _ringCount) % _ring.Length] = evt;
            _ringCount++;
        }
    }

    private void IndexOwners(StoredObject? before, StoredObject? after, ResourceCollection collection, string key)
    {
        if (before is not null)
        {
            foreach (var o in before.Owners)
            {
                if (_dependents.TryGetValue(o.Uid, out var set))
                {
                    set.Remove((collection, key));
                    if (set.Count == 0)
                    {
                        _dependents.Remove(o.Uid);
                    }
                }
            }
        }

        if (after is not null)
        {
            foreach (var o in after.Owners)
            {
                if (!_dependents.TryGetValue(o.Uid, out var set))
                {
                    _dependents[o.Uid] = set = [];
                }

                set.Add((collection, key));
            }
        }
    }
}
