using Ferry.KubeEmulator.Diagnostics;

namespace Ferry.Bench.Operator;

/// <summary>
/// Counts the requests the emulator served, by client (the benchmark's own driver vs everyone else, i.e. the operator),
/// verb and resource. The emulator numbers a request when it arrives but logs it when it completes, and keeps only the
/// most recent entries, so the log is drained often and entries are matched by number; numbers never seen by the end
/// (<see cref="Unaccounted"/>) are requests still open (watches) or entries the log dropped before a drain.
/// </summary>
internal sealed class RequestTally(RequestLog log, string driverUserAgent)
{
    private readonly Lock _lock = new();
    private readonly long _start = log.Mark();
    private readonly HashSet<long> _seen = [];
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    /// <summary>Requests counted so far, keyed "verb resource[/subresource]" (operator only).</summary>
    public Dictionary<string, long> Snapshot()
    {
        Drain();
        lock (_lock)
        {
            return new Dictionary<string, long>(_counts, StringComparer.Ordinal);
        }
    }

    public long DriverRequests { get; private set; }

    /// <summary>Request numbers issued since the tally started that no drain has seen completed.</summary>
    public long Unaccounted
    {
        get
        {
            Drain();
            lock (_lock)
            {
                return log.Mark() - _start - _seen.Count;
            }
        }
    }

    /// <summary>Moves new log entries into the counters.</summary>
    public void Drain()
    {
        lock (_lock)
        {
            foreach (var e in log.Since(_start))
            {
                if (!_seen.Add(e.Sequence))
                {
                    continue;
                }

                if (e.UserAgent == driverUserAgent)
                {
                    DriverRequests++;
                    continue;
                }

                var key = $"{e.Verb} {e.Resource ?? e.Path}{(e.Subresource is null ? "" : "/" + e.Subresource)}";
                _counts[key] = _counts.GetValueOrDefault(key) + 1;
            }
        }
    }

    /// <summary>Starts draining in the background every <paramref name="interval"/>.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Drain();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    /// <summary>Per-verb difference between two snapshots.</summary>
    public static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.Select(kv => (kv.Key, Value: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(kv => kv.Value != 0)
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    public static bool IsWrite(string key) =>
        key.StartsWith("create ", StringComparison.Ordinal) || key.StartsWith("update ", StringComparison.Ordinal)
        || key.StartsWith("patch ", StringComparison.Ordinal) || key.StartsWith("delete ", StringComparison.Ordinal)
        || key.StartsWith("deletecollection ", StringComparison.Ordinal);
}
