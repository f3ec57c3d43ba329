using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.SageMaker.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports every timer created on it, so a test can wait for the client to start a
/// backoff delay, check its length, and advance exactly past it (no real sleeps).
/// </summary>
public sealed class ObservedTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public FakeTimeProvider Fake { get; } = new(start);

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        // Reported only once armed, so a test that advances past it on hearing of it cannot miss it.
        var timer = new ObservedTimer(Fake.CreateTimer(callback, state, dueTime, period), _timers.Writer);
        _timers.Writer.TryWrite(dueTime);
        return timer;
    }

    // Timers re-armed with Change (a CancellationTokenSource's CancelAfter does that) are reported too.
    private sealed class ObservedTimer(ITimer inner, ChannelWriter<TimeSpan> report) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            report.TryWrite(dueTime);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    public void Advance(TimeSpan by) => Fake.Advance(by);

    /// <summary>The due time of the next timer created that is not <paramref name="ignored"/> (e.g. the attempt timeout).</summary>
    public async Task<TimeSpan> NextTimerAsync(TimeSpan ignored, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var due = await _timers.Reader.ReadAsync(cancellationToken);
            if (due != ignored && due != Timeout.InfiniteTimeSpan)
            {
                return due;
            }
        }
    }
}
