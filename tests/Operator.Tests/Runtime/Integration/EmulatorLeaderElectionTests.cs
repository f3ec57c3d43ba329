using Ferry.KubeEmulator;
using Ferry.Operator.Runtime.LeaderElection;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Runtime.Support;
using k8s;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;

namespace Ferry.Operator.Tests.Runtime.Integration;

/// <summary>Two electors competing for a real coordination.k8s.io/v1 Lease on the API emulator (real clock, short timings).</summary>
public sealed class EmulatorLeaderElectionTests : IAsyncLifetime
{
    private KubeApiEmulator _api = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _api = await KubeApiEmulator.StartAsync();
        _client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(_api.KubeconfigPath));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    private (LeaseElector Elector, Term Term) Candidate(string identity)
    {
        var elector = new LeaseElector(
            new LeaseLock(_client, "default", "ferry-test", identity),
            new LeaderElectionOptions
            {
                Identity = identity,
                LeaseDuration = TimeSpan.FromSeconds(3),
                RenewDeadline = TimeSpan.FromSeconds(2),
                RetryPeriod = TimeSpan.FromMilliseconds(200),
            });
        return (elector, new Term());
    }

    private async Task<V1Lease?> Lease() => await new KubernetesResourceClient<V1Lease>(_client).GetAsync("default", "ferry-test");

    [Fact]
    public async Task One_leader_at_a_time_and_a_released_lease_passes_to_the_other_candidate()
    {
        var (a, termA) = Candidate("a");
        var (b, termB) = Candidate("b");
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(termA.RunAsync, stopA.Token);
        await Wait.UntilAsync(() => termA.Started, "a leads");
        var runB = b.RunAsync(termB.RunAsync, stopB.Token);

        var first = await Lease();
        Assert.Equal("a", first!.Spec.HolderIdentity);
        await Wait.UntilAsync(() => Lease().Result!.Spec.RenewTime > first.Spec.RenewTime, "a renews the lease");
        var renewed = (await Lease())!.Spec.RenewTime;
        await Wait.UntilAsync(() => Lease().Result!.Spec.RenewTime > renewed, "a renews again");
        Assert.False(termB.Started);
        Assert.False(b.IsLeader);

        await stopA.CancelAsync();
        await runA.WaitAsync(Wait.Generous);
        Assert.True(termA.Token.IsCancellationRequested);

        await Wait.UntilAsync(() => termB.Started, "b leads after a released the lease");
        var lease = await Lease();
        Assert.Equal("b", lease!.Spec.HolderIdentity);
        Assert.Equal(1, lease.Spec.LeaseTransitions);

        await stopB.CancelAsync();
        await runB.WaitAsync(Wait.Generous);
        Assert.True(string.IsNullOrEmpty((await Lease())!.Spec.HolderIdentity));
    }

    private sealed class Term
    {
        private volatile bool _started;

        public bool Started => _started;

        public CancellationToken Token { get; private set; }

        public async Task RunAsync(CancellationToken token)
        {
            Token = token;
            _started = true;
            await Task.Delay(Timeout.Infinite, token);
        }
    }
}
