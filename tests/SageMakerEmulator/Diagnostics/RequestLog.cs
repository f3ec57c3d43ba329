using System.Collections.Concurrent;

namespace Ferry.SageMakerEmulator.Diagnostics;

/// <summary>One request the emulator answered: when, which operation, the HTTP status, the error code if any, and who signed it.</summary>
public sealed record LoggedRequest(DateTimeOffset Time, string Operation, int Status, string? ErrorCode, string? JobName,
    string? AccessKeyId = null, bool HadSessionToken = false);

/// <summary>Every request served, with counts per operation (kept in full) and the most recent entries.</summary>
public sealed class RequestLog
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<LoggedRequest> _entries = new();

    /// <summary>How many entries are kept (counts are never dropped).</summary>
    public int Capacity { get; init; } = 200_000;

    public void Add(LoggedRequest entry)
    {
        _counts.AddOrUpdate(entry.Operation, 1, (_, n) => n + 1);
        _entries.Enqueue(entry);
        while (_entries.Count > Capacity && _entries.TryDequeue(out _))
        {
        }
    }

    /// <summary>Requests for <paramref name="operation"/> (every outcome, faults included).</summary>
    public long Count(string operation) => _counts.TryGetValue(operation, out var n) ? n : 0;

    /// <summary>Requests by operation.</summary>
    public IReadOnlyDictionary<string, long> Counts => new Dictionary<string, long>(_counts, StringComparer.Ordinal);

    /// <summary>The kept entries, oldest first.</summary>
    public IReadOnlyList<LoggedRequest> Entries => [.. _entries];

    /// <summary>Forgets everything.</summary>
    public void Clear()
    {
        _counts.Clear();
        _entries.Clear();
    }
}
