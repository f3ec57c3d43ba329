using Ferry.Operator.Runtime.Telemetry;

namespace Ferry.Operator.Runtime.Queue;

/// <summary>The result of <see cref="WorkQueue{TKey}.GetAsync"/>: a key to process, or the news that the queue shut down.</summary>
public readonly record struct QueueItem<TKey>(TKey Key, bool ShuttingDown);

/// <summary>
/// A de-duplicating, rate-limited work queue with client-go's semantics: a key waits in the queue at most once; a key
/// being processed is never handed out again until <see cref="Done"/>, and if it was added meanwhile it is queued
/// again then; <see cref="AddAfter"/> and <see cref="AddRateLimited"/> delay through <see cref="TimeProvider"/> timers.
/// </summary>
public sealed class WorkQueue<TKey> : IDisposable
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private readonly Queue<TKey> _queue = new();
    private readonly HashSet<TKey> _dirty = [];
    private readonly HashSet<TKey> _processing = [];
    private readonly Dictionary<TKey, Delayed> _waiting = [];
    private readonly Dictionary<TKey, long> _queuedAt = [];
    private readonly KeyValuePair<string, object?> _queueTag;
    private readonly List<TaskCompletionSource> _getters = [];
    private readonly IRateLimiter<TKey> _rateLimiter;
    private readonly TimeProvider _time;
    private TaskCompletionSource? _drained;
    private bool _shuttingDown;

    /// <summary>Creates a queue.</summary>
    /// <param name="name">Name reported as the <c>queue</c> tag of the depth metric.</param>
    /// <param name="rateLimiter">Backoff for <see cref="AddRateLimited"/>; client-go's controller default when null.</param>
    /// <param name="time">Clock for delays.</param>
    public WorkQueue(string name, IRateLimiter<TKey>? rateLimiter = null, TimeProvider? time = null)
    {
        Name = name;
        _queueTag = new("queue", name);
        _time = time ?? TimeProvider.System;
        _rateLimiter = rateLimiter ?? RateLimiters.DefaultController<TKey>(_time);
        OperatorTelemetry.TrackQueue(name, () => Count);
        OperatorTelemetry.QueueRetries.Add(0, _queueTag);
    }

    /// <summary>The queue's name.</summary>
    public string Name { get; }

    /// <summary>Keys ready to be handed out (not counting delayed or in-process keys).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Keys waiting for a delay to pass.</summary>
    public int DelayedCount
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Whether shutdown started.</summary>
    public bool IsShuttingDown
    {
        get
        {
            lock (_lock)
            {
                return _shuttingDown;
            }
        }
    }

    /// <summary>Queues a key unless it is already waiting; a key in process is queued again when it is done.</summary>
    public void Add(TKey key)
    {
        lock (_lock)
        {
            if (_shuttingDown || !_dirty.Add(key))
            {
                return;
            }

            OperatorTelemetry.QueueAdds.Add(1, _queueTag);
            if (_processing.Contains(key))
            {
                return;
            }

            Enqueue(key);
        }
    }

    /// <summary>Queues a key after <paramref name="delay"/>; if it is already waiting, the earlier time wins.</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (_lock)
        {
            if (_shuttingDown)
            {
                return;
            }

            var due = _time.GetUtcNow() + delay;
            if (_waiting.TryGetValue(key, out var existing))
            {
                if (existing.Due <= due)
                {
                    return;
                }

                existing.Timer.Dispose();
            }

            var entry = new Delayed(due);
            entry.Timer = _time.CreateTimer(_ => Fire(key, entry), null, delay, Timeout.InfiniteTimeSpan);
            _waiting[key] = entry;
        }
    }

    /// <summary>Queues a key after its rate limiter's delay (per-key exponential backoff, overall token bucket).</summary>
    public void AddRateLimited(TKey key)
    {
        OperatorTelemetry.QueueRetries.Add(1, _queueTag);
        AddAfter(key, _rateLimiter.When(key));
    }

    /// <summary>Clears the backoff history of a key (call after it was processed successfully).</summary>
    public void Forget(TKey key) => _rateLimiter.Forget(key);

    /// <summary>Failures counted for a key since it was last forgotten.</summary>
    public int NumRequeues(TKey key) => _rateLimiter.NumRequeues(key);

    /// <summary>Waits for the next key; returns <c>ShuttingDown</c> once shutdown started and nothing is left to hand out.</summary>
    public async Task<QueueItem<TKey>> GetAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            TaskCompletionSource signal;
            lock (_lock)
            {
                if (_queue.TryDequeue(out var key))
                {
                    if (_queuedAt.Remove(key, out var queuedAt))
                    {
                        OperatorTelemetry.QueueLatency.Record(_time.GetElapsedTime(queuedAt).TotalSeconds, _queueTag);
                    }

                    _processing.Add(key);
                    _dirty.Remove(key);
                    return new QueueItem<TKey>(key, false);
                }

                if (_shuttingDown)
                {
                    return new QueueItem<TKey>(default!, true);
                }

                signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _getters.Add(signal);
            }

            try
            {
                await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                lock (_lock)
                {
                    _getters.Remove(signal);
                }
            }
        }
    }

    /// <summary>Marks a key as processed; if it was added while in process, it is queued again now.</summary>
    public void Done(TKey key)
    {
        lock (_lock)
        {
            _processing.Remove(key);
            if (_dirty.Contains(key))
            {
                Enqueue(key);
            }

            CheckDrained();
        }
    }

    /// <summary>
    /// Stops accepting keys and cancels pending delays; keys already queued are still handed out. With
    /// <paramref name="drain"/> it completes when every queued and in-process key is done.
    /// </summary>
    public Task ShutDownAsync(bool drain, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _shuttingDown = true;
            foreach (var delayed in _waiting.Values)
            {
                delayed.Timer.Dispose();
            }

            _waiting.Clear();
            foreach (var getter in _getters)
            {
                getter.TrySetResult();
            }

            if (!drain)
            {
                return Task.CompletedTask;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            CheckDrained();
            return _drained.Task.WaitAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _ = ShutDownAsync(drain: false, CancellationToken.None);
        OperatorTelemetry.UntrackQueue(Name);
    }

    private void Fire(TKey key, Delayed entry)
    {
        lock (_lock)
        {
            if (!_waiting.TryGetValue(key, out var current) || !ReferenceEquals(current, entry))
            {
                return;
            }

            _waiting.Remove(key);
            entry.Timer.Dispose();
        }

        Add(key);
    }

    private void Enqueue(TKey key)
    {
        _queue.Enqueue(key);
        _queuedAt[key] = _time.GetTimestamp();
        WakeGetters();
    }

    // Wakes every waiting getter: one of them takes the key, the others wait again. Waking only one could lose the
    // wake-up to a getter that is being cancelled at the same moment.
    private void WakeGetters()
    {
        foreach (var getter in _getters)
        {
            getter.TrySetResult();
        }

        _getters.Clear();
    }

    private void CheckDrained()
    {
        if (_drained is not null && _queue.Count == 0 && _processing.Count == 0)
        {
            _drained.TrySetResult();
        }
    }

    private sealed class Delayed(DateTimeOffset due)
    {
        public DateTimeOffset Due { get; } = due;

        public ITimer Timer { get; set; } = null!;
    }
}
