using Ferry.SageMakerEmulator.Timing;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.SageMaker.Tests.Emulator;

public sealed class AcceleratedTimeProviderTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void TimePassesFactorTimesFaster()
    {
        var real = new FakeTimeProvider(Start);
        var clock = new AcceleratedTimeProvider(120, Start.AddDays(1), real);
        var before = clock.GetTimestamp();

        real.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(Start.AddDays(1).AddHours(1), clock.GetUtcNow());
        Assert.Equal(TimeSpan.FromHours(1), clock.GetElapsedTime(before));
    }

    [Fact]
    public async Task DelaysShrinkByTheFactor()
    {
        var real = new FakeTimeProvider(Start);
        var clock = new AcceleratedTimeProvider(60, inner: real);

        var delay = Task.Delay(TimeSpan.FromMinutes(1), clock);
        real.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(delay.IsCompleted);
        real.Advance(TimeSpan.FromMilliseconds(1));

        await delay.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
