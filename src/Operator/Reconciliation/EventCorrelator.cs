using k8s.Models;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Folds repeats of one Event into the Event already recorded, as client-go's EventCorrelator does: the same source,
/// involved object, type, reason and message (client-go's <c>getEventKey</c>) seen again within <see cref="Window"/>
/// of its last occurrence is a repeat (count + 1, new last observed time), not a new Event. A bounded LRU cache remembers
/// the recent Events (client-go keeps 4096).
/// </summary>
public sealed class EventCorrelator(TimeProvider time, int capacity = EventCorrelator.DefaultCapacity, TimeSpan? window = null)
{
    /// <summary>How many recent Events are remembered (client-go's <c>maxLruCacheEntries</c>).</summary>
    public const int DefaultCapacity = 4096;

    /// <summary>How long after its last occurrence a repeat still folds into an Event (client-go's 10 minutes).</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromMinutes(10);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, Observation Seen)>> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, Observation Seen)> _recency = new();

    /// <summary>The aggregation window.</summary>
    public TimeSpan Window { get; } = window ?? DefaultWindow;

    /// <summary>How many Events are remembered now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>client-go's <c>getEventKey</c>: what makes two Events the same Event.</summary>
    public static string KeyOf(Corev1Event e) => string.Join('\u001f',
        e.Source?.Component, e.Source?.Host, e.InvolvedObject?.Kind, e.InvolvedObject?.NamespaceProperty, e.InvolvedObject?.Name,
        e.InvolvedObject?.FieldPath, e.InvolvedObject?.Uid, e.InvolvedObject?.ApiVersion, e.Type, e.Reason, e.Message);

    /// <summary>
    /// The Event this one repeats (its name, with the count and timestamps the repeat gives it), or null when it is
    /// new. A repeat is counted at once, so two repeats never claim the same count.
    /// </summary>
    public Observation? ObserveRepeat(string key)
    {
        var now = time.GetUtcNow().UtcDateTime;
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var node))
            {
                return null;
            }

            if (now - node.Value.Seen.LastTimestamp > Window)
            {
                Remove(node);
                return null;
            }

            var repeat = node.Value.Seen with { Count = node.Value.Seen.Count + 1, LastTimestamp = now };
            node.Value = (key, repeat);
            _recency.Remove(node);
            _recency.AddFirst(node);
            return repeat;
        }
    }

    /// <summary>Remembers an Event the API server stored (created or patched) just now.</summary>
    public void Remember(string key, Corev1Event stored)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var seen = new Observation(stored.Metadata.NamespaceProperty, stored.Metadata.Name, stored.Series?.Count ?? stored.Count ?? 1, stored.EventTime ?? stored.FirstTimestamp ?? now, now);
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                Remove(node);
            }

            _entries[key] = _recency.AddFirst((key, seen));
            while (_entries.Count > capacity && _recency.Last is { } oldest)
            {
                Remove(oldest);
            }
        }
    }

    /// <summary>Forgets an Event (its write failed, so the next occurrence starts a new one).</summary>
    public void Forget(string key)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                Remove(node);
            }
        }
    }

    private void Remove(LinkedListNode<(string Key, Observation Seen)> node)
    {
        _entries.Remove(node.Value.Key);
        _recency.Remove(node);
    }

    /// <summary>A recorded Event: where it is, how often it happened, first and last.</summary>
    public sealed record Observation(string Namespace, string Name, int Count, DateTime FirstTimestamp, DateTime LastTimestamp);
}
