using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Informers;

/// <summary>Read access to an informer's cache; the objects are shared, so callers must not modify them.</summary>
public interface IInformerCache<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>True once the first list of every watched namespace is in the cache.</summary>
    bool HasSynced { get; }

    /// <summary>Number of cached objects.</summary>
    int Count { get; }

    /// <summary>Looks an object up by namespace and name.</summary>
    bool TryGet(string? ns, string name, out T obj);

    /// <summary>Objects in <paramref name="ns"/> (all namespaces when null) whose labels match <paramref name="labelSelector"/>.</summary>
    IReadOnlyList<T> List(string? ns = null, string? labelSelector = null);

    /// <summary>Objects whose index <paramref name="indexName"/> yields <paramref name="value"/>.</summary>
    IReadOnlyList<T> ByIndex(string indexName, string value);

    /// <summary>Raised with the last cached state of an object the watch (or a relist) removed from the cache.</summary>
    event Action<T>? Removed
    {
        add { }
        remove { }
    }
}

/// <summary>Thread-safe store of the objects an informer saw, keyed by <c>namespace/name</c>, with secondary indexes.</summary>
public sealed class InformerCache<T> : IInformerCache<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, T> _items = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<T, IEnumerable<string>>> _indexers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, HashSet<string>>> _indexes = new(StringComparer.Ordinal);
    private volatile bool _hasSynced;

    /// <inheritdoc />
    public bool HasSynced => _hasSynced;

    /// <inheritdoc />
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _items.Count;
            }
        }
    }

    /// <summary>The cache key of an object: <c>namespace/name</c>, or <c>name</c> for cluster-scoped objects.</summary>
    public static string KeyOf(string? ns, string name) => string.IsNullOrEmpty(ns) ? name : $"{ns}/{name}";

    /// <summary>The cache key of <paramref name="obj"/>.</summary>
    public static string KeyOf(T obj) => KeyOf(obj.Metadata?.NamespaceProperty, obj.Metadata?.Name ?? "");

    /// <summary>Adds a secondary index; existing objects are indexed at once.</summary>
    public void AddIndex(string name, Func<T, IEnumerable<string>> indexer)
    {
        lock (_lock)
        {
            if (!_indexers.TryAdd(name, indexer))
            {
                throw new InvalidOperationException($"The cache already has an index named '{name}'.");
            }

            _indexes[name] = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            foreach (var (key, item) in _items)
            {
                AddToIndex(name, indexer, key, item);
            }
        }
    }

    /// <inheritdoc />
    public bool TryGet(string? ns, string name, out T obj)
    {
        lock (_lock)
        {
            return _items.TryGetValue(KeyOf(ns, name), out obj!);
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<T> List(string? ns = null, string? labelSelector = null)
    {
        var selector = LabelSelector.Parse(labelSelector);
        lock (_lock)
        {
            return _items.Values
                .Where(o => (ns is null || o.Metadata?.NamespaceProperty == ns) && selector.Matches(o.Metadata?.Labels))
                .ToList();
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<T> ByIndex(string indexName, string value)
    {
        lock (_lock)
        {
            if (!_indexes.TryGetValue(indexName, out var index))
            {
                throw new ArgumentException($"The cache has no index named '{indexName}'; add it with AddIndex before reading.", nameof(indexName));
            }

            return index.TryGetValue(value, out var keys) ? keys.Select(k => _items[k]).ToList() : [];
        }
    }

    internal void MarkSynced() => _hasSynced = true;

    /// <summary>Stores <paramref name="obj"/>; returns the object it replaced, if any.</summary>
    internal T? Upsert(T obj)
    {
        var key = KeyOf(obj);
        lock (_lock)
        {
            _items.TryGetValue(key, out var old);
            if (old is not null)
            {
                RemoveFromIndexes(key, old);
            }

            _items[key] = obj;
            foreach (var (name, indexer) in _indexers)
            {
                AddToIndex(name, indexer, key, obj);
            }

            return old;
        }
    }

    /// <summary>Removes the object with <paramref name="obj"/>'s key; returns what was cached, if anything.</summary>
    internal T? Remove(T obj)
    {
        var key = KeyOf(obj);
        lock (_lock)
        {
            if (!_items.Remove(key, out var old))
            {
                return null;
            }

            RemoveFromIndexes(key, old);
            Removed?.Invoke(old);
            return old;
        }
    }

    /// <inheritdoc />
    public event Action<T>? Removed;

    /// <summary>
    /// Makes the cache's content for <paramref name="ns"/> (everything when null) equal to <paramref name="items"/>,
    /// reporting what was added, changed (different resourceVersion) and deleted.
    /// </summary>
    internal ReplaceResult Replace(string? ns, IReadOnlyList<T> items)
    {
        var added = new List<T>();
        var updated = new List<(T Old, T New)>();
        var deleted = new List<T>();
        lock (_lock)
        {
            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in items)
            {
                listed.Add(KeyOf(item));
                var old = Upsert(item);
                if (old is null)
                {
                    added.Add(item);
                }
                else if (old.Metadata?.ResourceVersion != item.Metadata?.ResourceVersion)
                {
                    updated.Add((old, item));
                }
            }

            var stale = _items
                .Where(p => !listed.Contains(p.Key) && (ns is null || p.Value.Metadata?.NamespaceProperty == ns))
                .Select(p => p.Value)
                .ToList();
            foreach (var item in stale)
            {
                Remove(item);
                deleted.Add(item);
            }
        }

        return new ReplaceResult(added, updated, deleted);
    }

    private void AddToIndex(string name, Func<T, IEnumerable<string>> indexer, string key, T obj)
    {
        var index = _indexes[name];
        foreach (var value in indexer(obj))
        {
            if (!index.TryGetValue(value, out var keys))
            {
                index[value] = keys = new HashSet<string>(StringComparer.Ordinal);
            }

            keys.Add(key);
        }
    }

    private void RemoveFromIndexes(string key, T obj)
    {
        foreach (var (name, indexer) in _indexers)
        {
            var index = _indexes[name];
            foreach (var value in indexer(obj))
            {
                if (index.TryGetValue(value, out var keys) && keys.Remove(key) && keys.Count == 0)
                {
                    index.Remove(value);
                }
            }
        }
    }

    /// <summary>What a relist changed.</summary>
    internal sealed record ReplaceResult(List<T> Added, List<(T Old, T New)> Updated, List<T> Deleted);
}

/// <summary>Common index functions for <see cref="InformerCache{T}.AddIndex"/>.</summary>
public static class CacheIndexes
{
    /// <summary>Index name for <see cref="ControllerOwnerUid"/>.</summary>
    public const string ByControllerOwnerUid = "controllerOwnerUid";

    /// <summary>The UID of the owner reference marked <c>controller: true</c>, if any.</summary>
    public static IEnumerable<string> ControllerOwnerUid(IKubernetesObject<V1ObjectMeta> obj) =>
        obj.Metadata?.OwnerReferences?.Where(o => o.Controller == true && !string.IsNullOrEmpty(o.Uid)).Select(o => o.Uid) ?? [];

    /// <summary>An index function yielding <c>namespace/value</c> of label <paramref name="labelKey"/>.</summary>
    public static Func<IKubernetesObject<V1ObjectMeta>, IEnumerable<string>> NamespacedLabel(string labelKey) =>
        obj => obj.Metadata?.Labels is { } labels && labels.TryGetValue(labelKey, out var value)
            ? [string.IsNullOrEmpty(obj.Metadata.NamespaceProperty) ? value : $"{obj.Metadata.NamespaceProperty}/{value}"]
            : [];
}
