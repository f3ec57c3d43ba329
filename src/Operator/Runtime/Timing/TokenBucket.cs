namespace Ferry.Operator.Runtime.Timing;

/// <summary>A token bucket: <c>burst</c> tokens, refilled at <c>qps</c> per second; a reservation says how long to wait.</summary>
public sealed class TokenBucket
{
    private readonly double _qps;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private double _tokens;
    private long _last;

    /// <summary>Creates a full bucket.</summary>
    /// <param name="qps">Tokens added per second; must be positive.</param>
    /// <param name="burst">Bucket size; at least 1.</param>
    /// <param name="time">Clock.</param>
    public TokenBucket(double qps, int burst, TimeProvider time)
    {
        if (qps <= 0 || double.IsNaN(qps))
        {
            throw new ArgumentOutOfRangeException(nameof(qps), qps, "qps must be greater than 0.");
        }

        if (burst < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(burst), burst, "burst must be at least 1.");
        }

        _qps = qps;
        _burst = burst;
        _time = time;
        _tokens = burst;
        _last = time.GetTimestamp();
    }

    /// <summary>Takes one token now, going into debt if none is left; returns how long the caller must wait for it.</summary>
    public TimeSpan Reserve()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var elapsed = _time.GetElapsedTime(_last, now).TotalSeconds;
            _last = now;
            _tokens = Math.Min(_burst, _tokens + (elapsed * _qps));
            _tokens -= 1;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _qps);
        }
    }

    /// <summary>Waits until a token is available.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        var delay = Reserve();
        return delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, _time, cancellationToken);
    }
}
