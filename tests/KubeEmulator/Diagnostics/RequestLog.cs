using System.Collections.Concurrent;

namespace Ferry.KubeEmulator.Diagnostics;

/// <summary>One served request, with the Kubernetes verb and the resource it addressed.</summary>
/// <param name="Sequence">Monotonic request number (use with <see cref="RequestLog.Mark"/>).</param>
/// <param name="Time">When the request ended (on the emulator's TimeProvider).</param>
/// <param name="Verb">The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection (or the HTTP method for non-resource paths).</param>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">Path and query string.</param>
/// <param name="Group">API group ("" for core), null for non-resource paths.</param>
/// <param name="Resource">Resource plural, e.g. "pods".</param>
/// <param name="Namespace">Namespace, if the path names one.</param>
/// <param name="Name">Object name, if the path names one.</param>
/// <param name="Subresource">Subresource, e.g. "status".</param>
/// <param name="StatusCode">The HTTP status answered.</param>
/// <param name="UserAgent">The client's User-Agent.</param>
/// <param name="User">The authenticated user (RBAC mode; null otherwise or when the token was refused).</param>
/// <param name="Authorization">The RBAC decision: the binding, role and rule that allowed the request, or the refusal (RBAC mode only).</param>
public sealed record RequestLogEntry(long Sequence, DateTimeOffset Time, string Verb, string Method, string Path, string? Group,
    string? Resource, string? Namespace, string? Name, string? Subresource, int StatusCode, string UserAgent,
    string? User = null, string? Authorization = null)
{
    /// <summary>True when RBAC refused the request (403).</summary>
    public bool IsForbidden => StatusCode == 403 && Authorization is not null;

    /// <summary>True for create, update, patch, delete and deletecollection.</summary>
    public bool IsWrite => Verb is "create" or "update" or "patch" or "delete" or "deletecollection";
}

/// <summary>A queryable log of every request the emulator served.</summary>
public sealed class RequestLog
{
    /// <summary>The most entries kept; older ones are dropped.</summary>
    public const int Capacity = 100_000;

    private readonly ConcurrentQueue<RequestLogEntry> _entries = new();
    private long _sequence;
    private int _count;

    /// <summary>All entries so far, oldest first.</summary>
    public IReadOnlyList<RequestLogEntry> Entries => _entries.ToArray();

    /// <summary>A position in the log; pass it to <see cref="Since"/> or <see cref="WritesSince"/>.</summary>
    public long Mark() => Interlocked.Read(ref _sequence);

    /// <summary>Entries logged after <paramref name="mark"/>.</summary>
    public IReadOnlyList<RequestLogEntry> Since(long mark) => _entries.Where(e => e.Sequence > mark).ToArray();

    /// <summary>Write requests (optionally to one resource, e.g. "trainingjobs" or "pods") logged after <paramref name="mark"/>.</summary>
    public int WritesSince(long mark, string? resource = null) =>
        _entries.Count(e => e.Sequence > mark && e.IsWrite && (resource is null || e.Resource == resource));

    /// <summary>Counts entries matching <paramref name="predicate"/>.</summary>
    public int Count(Func<RequestLogEntry, bool> predicate) => _entries.Count(predicate);

    public void Clear()
    {
        _entries.Clear();
        Interlocked.Exchange(ref _count, 0);
    }

    internal long NextSequence() => Interlocked.Increment(ref _sequence);

    internal void Add(RequestLogEntry entry)
    {
        _entries.Enqueue(entry);

        // ConcurrentQueue.Count walks its segments; the bound is kept with a counter instead (approximate under races, which
        // only moves the bound by a few entries).
        if (Interlocked.Increment(ref _count) > Capacity && _entries.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
