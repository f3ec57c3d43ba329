using Ferry.Operator.Cli.Insight;

namespace Ferry.Operator.Tests.Insight.Logs;

/// <summary>`ferry logs --local --follow` reads a replica's log as it grows and ends when the replica has ended.</summary>
public sealed class LocalFollowTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("ferry-follow-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    /// <summary>A writer that signals each time something was written to it.</summary>
    private sealed class SignallingWriter : StringWriter
    {
        public SemaphoreSlim Written { get; } = new(0);

        public override Task WriteAsync(string? value)
        {
            base.Write(value);
            Written.Release();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Following_prints_lines_as_they_come_and_stops_once_the_replica_ended()
    {
        var attempt = Path.Combine(_work, "job", "attempt-1");
        Directory.CreateDirectory(attempt);
        var log = Path.Combine(attempt, "algo-1.log");
        await File.WriteAllTextAsync(log, "first\n");
        using var output = new SignallingWriter();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var following = JobLogs.LocalAsync(_work, new LogRequest("job", Follow: true), output, TimeProvider.System, guard.Token);
        await output.Written.WaitAsync(guard.Token);
        Assert.Equal("first\n", output.ToString());
        Assert.False(following.IsCompleted);

        await File.AppendAllTextAsync(log, "second\n");
        await output.Written.WaitAsync(guard.Token);
        Assert.Equal("first\nsecond\n", output.ToString());
        Assert.False(following.IsCompleted);

        // The agent writes the termination message when the replica ends; what was written before it is still printed.
        await File.AppendAllTextAsync(log, "last\n");
        await File.WriteAllTextAsync(Path.Combine(attempt, "algo-1.termination-log"), "{}");
        await following;
        Assert.Equal("first\nsecond\nlast\n", output.ToString());
    }
}
