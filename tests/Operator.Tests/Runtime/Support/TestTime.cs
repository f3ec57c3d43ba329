using Microsoft.Extensions.Time.Testing;

namespace Ferry.Operator.Tests.Runtime.Support;

/// <summary>A fake clock that also tells tests when code under test starts waiting on a timer.</summary>
public sealed class TestTime : FakeTimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<TimeSpan> _created = [];
    private readonly List<(Func<TimeSpan, bool> Match, TaskCompletionSource Signal)> _waiters = [];

    public TestTime()
        : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        lock (_lock)
        {
            _created.Add(dueTime);
            foreach (var waiter in _waiters.Where(w => w.Match(dueTime)).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Signal.TrySetResult();
            }
        }

        return timer;
    }

    /// <summary>Completes when a timer with a matching due time is (or was, after <paramref name="sinceCount"/>) created.</summary>
    public Task WaitForTimerAsync(Func<TimeSpan, bool> match, int sinceCount = 0)
    {
        lock (_lock)
        {
            if (_created.Skip(sinceCount).Any(match))
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, signal));
            return signal.Task.WaitAsync(Wait.Generous);
        }
    }

    /// <summary>Timers created so far.</summary>
    public int TimersCreated
    {
        get
        {
            lock (_lock)
            {
                return _created.Count;
            }
        }
    }
}

/// <summary>Waiting on observable conditions with generous real-time limits (never as synchronisation by sleeping).</summary>
public static class Wait
{
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    /// <summary>Polls <paramref name="condition"/> until it holds.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Generous);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>Advances the fake clock in <paramref name="step"/>s, letting continuations run, until the condition holds.</summary>
    public static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, TimeSpan step, TimeSpan maxFake, string what)
    {
        var advanced = TimeSpan.Zero;
        var deadline = DateTime.UtcNow + Generous;
        while (!condition())
        {
            if (advanced > maxFake || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met after advancing {advanced}: {what}");
            }

            time.Advance(step);
            advanced += step;
            await Task.Delay(2);
        }
    }
}
