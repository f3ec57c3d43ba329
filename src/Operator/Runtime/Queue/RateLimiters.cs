using System.Collections.Concurrent;
using Ferry.Operator.Runtime.Timing;

namespace Ferry.Operator.Runtime.Queue;

/// <summary>Decides how long a key waits before it is retried (client-go's workqueue rate limiter).</summary>
public interface IRateLimiter<in TKey>
    where TKey : notnull
{
    /// <summary>The delay before <paramref name="key"/> is processed again; counts a failure for it.</summary>
    TimeSpan When(TKey key);

    /// <summary>Clears the failure history of <paramref name="key"/>.</summary>
    void Forget(TKey key);

    /// <summary>Failures counted for <paramref name="key"/> since it was last forgotten.</summary>
    int NumRequeues(TKey key);
}

/// <summary>Per-key exponential backoff: <c>baseDelay * 2^failures</c>, capped at <c>maxDelay</c>.</summary>
public sealed class ItemExponentialRateLimiter<TKey>(TimeSpan baseDelay, TimeSpan maxDelay) : IRateLimiter<TKey>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, int> _failures = new();

    /// <inheritdoc />
    public TimeSpan When(TKey key)
    {
        var failures = _failures.AddOrUpdate(key, 1, (_, n) => n + 1);
        var ticks = baseDelay.Ticks * Math.Pow(2, Math.Min(failures - 1, 62));
        return ticks >= maxDelay.Ticks ? maxDelay : TimeSpan.FromTicks((long)ticks);
    }

    /// <inheritdoc />
    public void Forget(TKey key) => _failures.TryRemove(key, out _);

    /// <inheritdoc />
    public int NumRequeues(TKey key) => _failures.TryGetValue(key, out var n) ? n : 0;
}

/// <summary>An overall token bucket shared by all keys, so a storm of failures cannot flood the API server.</summary>
public sealed class BucketRateLimiter<TKey>(TokenBucket bucket) : IRateLimiter<TKey>
    where TKey : notnull
{
    /// <inheritdoc />
    public TimeSpan When(TKey key) => bucket.Reserve();

    /// <inheritdoc />
    public void Forget(TKey key)
    {
    }

    /// <inheritdoc />
    public int NumRequeues(TKey key) => 0;
}

/// <summary>The longest delay of several limiters.</summary>
public sealed class MaxOfRateLimiter<TKey>(params IRateLimiter<TKey>[] limiters) : IRateLimiter<TKey>
    where TKey : notnull
{
    /// <inheritdoc />
    public TimeSpan When(TKey key)
    {
        var max = TimeSpan.Zero;
        foreach (var limiter in limiters)
        {
            var delay = limiter.When(key);
            if (delay > max)
            {
                max = delay;
            }
        }

        return max;
    }

    /// <inheritdoc />
    public void Forget(TKey key)
    {
        foreach (var limiter in limiters)
        {
            limiter.Forget(key);
        }
    }

    /// <inheritdoc />
    public int NumRequeues(TKey key) => limiters.Max(l => l.NumRequeues(key));
}

/// <summary>Ready-made limiters.</summary>
public static class RateLimiters
{
    /// <summary>client-go's default for controllers: per-key 5ms…1000s exponential, and an overall 10 qps / 100 burst bucket.</summary>
    public static IRateLimiter<TKey> DefaultController<TKey>(TimeProvider time)
        where TKey : notnull =>
        new MaxOfRateLimiter<TKey>(
            new ItemExponentialRateLimiter<TKey>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000)),
            new BucketRateLimiter<TKey>(new TokenBucket(10, 100, time)));
}
