namespace Ferry.SageMakerEmulator.Timing;

/// <summary>
/// A clock that runs <see cref="Factor"/> times faster than another one (the system clock by default): hours of simulated
/// training pass in minutes, and timers created on it (polling delays, backoff, timeouts) shrink to match. Give the same
/// instance to the emulator and to what it serves so both agree on the time.
/// </summary>
public sealed class AcceleratedTimeProvider : TimeProvider
{
    private readonly TimeProvider _inner;
    private readonly DateTimeOffset _innerStart;
    private readonly long _innerStartTimestamp;

    public AcceleratedTimeProvider(double factor, DateTimeOffset? start = null, TimeProvider? inner = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(factor, 1.0);
        _inner = inner ?? System;
        Factor = factor;
        _innerStart = _inner.GetUtcNow();
        _innerStartTimestamp = _inner.GetTimestamp();
        Start = start ?? _innerStart;
    }

    /// <summary>How many times faster than the inner clock this one runs.</summary>
    public double Factor { get; }

    /// <summary>The time this clock showed when created.</summary>
    public DateTimeOffset Start { get; }

    public override DateTimeOffset GetUtcNow() => Start + (_inner.GetUtcNow() - _innerStart) * Factor;

    public override long TimestampFrequency => _inner.TimestampFrequency;

    public override long GetTimestamp() => _innerStartTimestamp + (long)((_inner.GetTimestamp() - _innerStartTimestamp) * Factor);

    public override TimeZoneInfo LocalTimeZone => _inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new ScaledTimer(_inner.CreateTimer(callback, state, Scale(dueTime), Scale(period)), this);

    private TimeSpan Scale(TimeSpan span) => span == Timeout.InfiniteTimeSpan || span <= TimeSpan.Zero ? span : span / Factor;

    private sealed class ScaledTimer(ITimer inner, AcceleratedTimeProvider clock) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(clock.Scale(dueTime), clock.Scale(period));

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
