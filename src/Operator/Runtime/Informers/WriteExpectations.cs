using System.Collections.Concurrent;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Informers;

/// <summary>
/// Read-your-writes over an informer cache — what client-go calls expectations: remembers the objects this process
/// created, updated or deleted until the cache shows a state past them, so a reconcile that runs before the watch has
/// caught up neither repeats a create nor mistakes a freshly created child for a vanished one. An expectation also
/// ends when the watch deletes the object (a child created and deleted before any reconcile looked), and after
/// <see cref="Expiry"/> in any case (as client-go's 5 minutes), so a missed event can never leave a ghost behind.
/// </summary>
/// <remarks>
/// No resourceVersions are compared for order (they are opaque): an entry remembers the version its write was based
/// on (none for a create) and stays in force only while the cache still holds exactly that version. Once the cache
/// shows anything else (our write, or a later change), the entry retires. Basing validity on the write's starting
/// point rather than on what the cache held when the answer arrived matters: the watch may already have delivered
/// our write and a later change by then, and an entry keyed to that later version would hide it.
/// </remarks>
public sealed class WriteExpectations<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>How long an expectation lasts at most.</summary>
    public static readonly TimeSpan Expiry = TimeSpan.FromMinutes(5);

    private const int SweepEvery = 4096;

    private readonly IInformerCache<T> cache;
    private readonly Func<T, string?>? groupOf;
    private readonly TimeProvider _time;

    /// <summary>Expectations over <paramref name="cache"/>; <paramref name="time"/> dates them for <see cref="Expiry"/>.</summary>
    /// <param name="cache">The informer cache.</param>
    /// <param name="groupOf">
    /// The group an object is queried in (e.g. its controlling owner's uid), so <see cref="Apply"/> visits only the
    /// pending writes of one group; null when the expectations are read by key only.
    /// </param>
    /// <param name="time">The clock that dates expectations.</param>
    public WriteExpectations(IInformerCache<T> cache, Func<T, string?>? groupOf = null, TimeProvider? time = null)
    {
        this.cache = cache;
        this.groupOf = groupOf;
        _time = time ?? TimeProvider.System;
        if (cache is not null)
        {
            // Null only where a backend is built for its pure parts (validation) and never reads the cache.
            cache.Removed += OnRemoved;
        }
    }

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _groups = new(StringComparer.Ordinal);
    private int _recorded;

    /// <summary>The cache under the overlay.</summary>
    public IInformerCache<T> Cache => cache;

    /// <summary>Entries still waiting for the cache (for tests and metrics).</summary>
    public int PendingCount => _entries.Count;

    /// <summary>
    /// Remembers <paramref name="written"/>, the API's answer to a create (<paramref name="basedOn"/> null) or to an
    /// update or patch of <paramref name="basedOn"/> (the object as this process read it, from the cache or this overlay).
    /// </summary>
    public void Written(T written, T? basedOn = null) => Record(written, basedOn, deleted: false);

    /// <summary>Remembers that <paramref name="deleted"/> (as this process read it) was deleted; it may linger while finalizers or a grace period run.</summary>
    public void Deleted(T deleted) => Record(deleted, deleted, deleted: true);

    /// <summary>The object as this process last knew it: null when absent or deleted by this process.</summary>
    public T? Get(string? ns, string name)
    {
        var key = InformerCache<T>.KeyOf(ns, name);
        var cached = cache.TryGet(ns, name, out var found) ? found : null;
        if (Current(key, cached) is { } entry)
        {
            return entry.IsDeleted ? null : entry.Object;
        }

        return cached;
    }

    /// <summary>
    /// <paramref name="cached"/> (the cached objects of <paramref name="group"/>) with this process's pending writes
    /// applied: created objects of the group are added, updated ones replaced; objects deleted by this process are
    /// kept but reported in the second item so callers can treat them as terminating.
    /// </summary>
    public IReadOnlyList<(T Object, bool DeletePending)> Apply(IReadOnlyList<T> cached, string group)
    {
        var result = new List<(T, bool)>(cached.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var obj in cached)
        {
            var key = InformerCache<T>.KeyOf(obj);
            seen.Add(key);
            result.Add(Current(key, obj) is { } entry ? (entry.IsDeleted ? obj : entry.Object, entry.IsDeleted) : (obj, false));
        }

        if (_groups.TryGetValue(group, out var keys))
        {
            foreach (var key in keys.Keys)
            {
                if (!seen.Contains(key) && _entries.TryGetValue(key, out var pending)
                    && CurrentFromCache(key, pending) is { IsDeleted: false } entry)
                {
                    result.Add((entry.Object, false));
                }
            }
        }

        return result;
    }

    private void Record(T obj, T? basedOn, bool deleted)
    {
        var key = InformerCache<T>.KeyOf(obj);
        var cachedVersion = cache.TryGet(obj.Metadata.NamespaceProperty, obj.Metadata.Name, out var cached) ? cached.Metadata.ResourceVersion : null;
        var baseVersion = basedOn?.Metadata.ResourceVersion;
        if (basedOn is not null && _entries.TryGetValue(key, out var previous) && !previous.IsDeleted
            && previous.Object.Metadata.ResourceVersion == baseVersion)
        {
            // A write on top of our own pending write starts, for the cache, where that one started.
            baseVersion = previous.CacheVersionAtWrite;
        }

        if (cachedVersion != baseVersion)
        {
            // The watch already moved past the write's starting point (it delivered our change, or more).
            if (_entries.TryGetValue(key, out var stale))
            {
                Retire(key, stale);
            }
        }
        else
        {
            var group = groupOf?.Invoke(obj);
            _entries[key] = new Entry(obj, deleted, baseVersion, group, _time.GetUtcNow());
            if (group is not null)
            {
                _groups.GetOrAdd(group, _ => new ConcurrentDictionary<string, byte>(StringComparer.Ordinal))[key] = 0;
            }
        }

        if (Interlocked.Increment(ref _recorded) % SweepEvery == 0)
        {
            Sweep();
        }
    }

    /// <summary>The entry for <paramref name="key"/> if the cache (holding <paramref name="cached"/>) has not moved past it; retires it otherwise.</summary>
    private Entry? Current(string key, T? cached)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (entry.CacheVersionAtWrite == cached?.Metadata.ResourceVersion && _time.GetUtcNow() - entry.RecordedAt < Expiry)
        {
            return entry;
        }

        Retire(key, entry);
        return null;
    }

    private void Retire(string key, Entry entry)
    {
        if (_entries.TryRemove(KeyValuePair.Create(key, entry)) && entry.Group is not null && _groups.TryGetValue(entry.Group, out var keys))
        {
            keys.TryRemove(key, out _);
            if (keys.IsEmpty)
            {
                _groups.TryRemove(KeyValuePair.Create(entry.Group, keys));
            }
        }
    }

    private Entry? CurrentFromCache(string key, Entry entry) =>
        Current(key, cache.TryGet(entry.Object.Metadata.NamespaceProperty, entry.Object.Metadata.Name, out var cached) ? cached : null);

    /// <summary>Drops entries the cache has moved past but nobody asked about again (e.g. jobs never reconciled again).</summary>
    private void Sweep()
    {
        foreach (var (key, entry) in _entries)
        {
            _ = CurrentFromCache(key, entry);
        }
    }

    /// <summary>The watch removed an object: what this process expected of it is settled (it exists no more).</summary>
    private void OnRemoved(T removed)
    {
        var key = InformerCache<T>.KeyOf(removed);
        if (_entries.TryGetValue(key, out var entry)
            && (entry.IsDeleted || entry.Object.Metadata.Uid is null || entry.Object.Metadata.Uid == removed.Metadata.Uid))
        {
            Retire(key, entry);
        }
    }

    private sealed record Entry(T Object, bool IsDeleted, string? CacheVersionAtWrite, string? Group, DateTimeOffset RecordedAt);
}
