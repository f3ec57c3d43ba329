using Ferry.Operator.Runtime.LeaderElection;
using Ferry.Operator.Tests.Runtime.Support;

namespace Ferry.Operator.Tests.Runtime.LeaderElection;

public sealed class LeaseElectorTests : IAsyncDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);
    private readonly TestTime _time = new();
    private readonly InMemoryLease _lease = new();
    private readonly List<(CancellationTokenSource Stop, Task Run)> _running = [];

    private Candidate StartCandidate(string identity)
    {
        var elector = new LeaseElector(_lease.For(identity), new LeaderElectionOptions { Identity = identity }, _time);
        var candidate = new Candidate(identity, elector, _time);
        var stop = new CancellationTokenSource();
        _running.Add((stop, elector.RunAsync(candidate.WhileLeadingAsync, stop.Token)));
        candidate.Stop = stop;
        return candidate;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (stop, run) in _running)
        {
            await stop.CancelAsync();
            await run.WaitAsync(Wait.Generous);
            stop.Dispose();
        }
    }

    [Fact]
    public async Task Acquires_a_missing_lease_at_once_and_renews_it_every_retry_period()
    {
        var a = StartCandidate("a");
        await Wait.UntilAsync(() => a.Terms == 1, "a leads");

        Assert.True(a.Elector.IsLeader);
        Assert.Equal("a", _lease.Record!.HolderIdentity);
        Assert.Equal(15, _lease.Record.LeaseDurationSeconds);
        var acquired = _lease.Record.AcquireTime;

        await Wait.AdvanceUntilAsync(_time, () => _lease.Updates >= 5, Step, TimeSpan.FromMinutes(1), "five renewals");
        Assert.Equal("a", _lease.Record!.HolderIdentity);
        Assert.Equal(acquired, _lease.Record.AcquireTime);
        Assert.True(_lease.Record.RenewTime > acquired);
        Assert.Equal(0, _lease.Record.LeaderTransitions);
        Assert.False(a.CurrentTerm.IsCancellationRequested);
    }

    [Fact]
    public async Task A_second_candidate_waits_while_the_leader_renews()
    {
        var a = StartCandidate("a");
        await Wait.UntilAsync(() => a.Terms == 1, "a leads");
        var b = StartCandidate("b");

        await Wait.AdvanceUntilAsync(_time, () => _lease.Updates >= 30, Step, TimeSpan.FromMinutes(5), "a keeps renewing");
        Assert.Equal(0, b.Terms);
        Assert.True(a.Elector.IsLeader);
    }

    [Fact]
    public async Task Leader_cut_off_stops_its_work_and_the_other_takes_over_only_after_the_lease_expires()
    {
        var a = StartCandidate("a");
        await Wait.UntilAsync(() => a.Terms == 1, "a leads");
        var b = StartCandidate("b");
        await Wait.AdvanceUntilAsync(_time, () => _lease.Updates >= 3, Step, TimeSpan.FromMinutes(1), "a renews");

        var lastRenew = _lease.Record!.RenewTime!.Value;
        _lease.Partition("a", cut: true);

        await Wait.AdvanceUntilAsync(_time, () => b.Terms == 1, Step, TimeSpan.FromMinutes(2), "b takes over");

        Assert.True(a.CurrentTerm.IsCancellationRequested, "a's workers must be stopped");
        Assert.False(a.Elector.IsLeader);
        Assert.True(a.StoppedAt <= b.StartedAt, "a must stop before b starts");
        Assert.True(b.StartedAt - lastRenew >= TimeSpan.FromSeconds(15), $"b took over {b.StartedAt - lastRenew} after the last renewal");
        Assert.True(a.StoppedAt - lastRenew >= TimeSpan.FromSeconds(10), "a keeps trying until the renew deadline");
        Assert.Equal("b", _lease.Record!.HolderIdentity);
        Assert.Equal(1, _lease.Record.LeaderTransitions);
    }

    [Fact]
    public async Task A_former_leader_competes_again_and_leads_again_when_the_lease_is_released()
    {
        var a = StartCandidate("a");
        await Wait.UntilAsync(() => a.Terms == 1, "a leads");
        var b = StartCandidate("b");
        _lease.Partition("a", cut: true);
        await Wait.AdvanceUntilAsync(_time, () => b.Terms == 1, Step, TimeSpan.FromMinutes(2), "b takes over");
        _lease.Partition("a", cut: false);

        await b.Stop!.CancelAsync();
        await Wait.UntilAsync(() => _lease.Record!.HolderIdentity != "b", "b released the lease");
        Assert.Equal("", _lease.Record!.HolderIdentity);

        await Wait.AdvanceUntilAsync(_time, () => a.Terms == 2, Step, TimeSpan.FromMinutes(1), "a leads again");
        Assert.True(a.Elector.IsLeader);
        Assert.False(a.CurrentTerm.IsCancellationRequested);
        Assert.Equal("a", _lease.Record!.HolderIdentity);
    }

    [Fact]
    public async Task Stopping_the_leader_cancels_its_work_and_releases_the_lease()
    {
        var a = StartCandidate("a");
        await Wait.UntilAsync(() => a.Terms == 1, "a leads");
        var term = a.CurrentTerm;

        await a.Stop!.CancelAsync();
        await _running[0].Run.WaitAsync(Wait.Generous);

        Assert.True(term.IsCancellationRequested);
        Assert.Equal("", _lease.Record!.HolderIdentity);
        Assert.False(a.Elector.IsLeader);
    }

    [Fact]
    public void Timing_that_cannot_work_is_refused_with_the_settings_named()
    {
        var error = Assert.Throws<ArgumentException>(() => new LeaseElector(_lease.For("a"),
            new LeaderElectionOptions { Identity = "a", LeaseDuration = TimeSpan.FromSeconds(5), RenewDeadline = TimeSpan.FromSeconds(10) }));
        Assert.Contains("leaseDuration", error.Message);
        Assert.Contains("renewDeadline", error.Message);
    }

    private sealed class Candidate(string identity, LeaseElector elector, TimeProvider time)
    {
        private int _terms;

        public string Identity { get; } = identity;

        public LeaseElector Elector { get; } = elector;

        public CancellationTokenSource? Stop { get; set; }

        public int Terms => Volatile.Read(ref _terms);

        public CancellationToken CurrentTerm { get; private set; }

        public DateTimeOffset StartedAt { get; private set; }

        public DateTimeOffset StoppedAt { get; private set; }

        public async Task WhileLeadingAsync(CancellationToken term)
        {
            CurrentTerm = term;
            StartedAt = time.GetUtcNow();
            Interlocked.Increment(ref _terms);
            try
            {
                await Task.Delay(Timeout.Infinite, term);
            }
            finally
            {
                StoppedAt = time.GetUtcNow();
            }
        }
    }
}
