using System.Diagnostics;
using Ferry.Trainer.Distributed;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Distributed;

public sealed class RendezvousTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Key, v => v.Value);
        return key => map.GetValueOrDefault(key);
    }

    [Fact]
    public void Torchrun_variables_win_over_sagemaker_ones()
    {
        var settings = RendezvousSettings.FromEnvironment(Env(
            ("MASTER_ADDR", "trainer-0.svc"), ("MASTER_PORT", "23456"), ("RANK", "2"), ("WORLD_SIZE", "4"),
            ("SM_HOSTS", "[\"algo-1\",\"algo-2\"]"), ("SM_CURRENT_HOST", "algo-1"), ("FERRY_RENDEZVOUS_TIMEOUT_SECONDS", "12")));
        Assert.Equal(new RendezvousSettings("trainer-0.svc", 23456, 2, 4, TimeSpan.FromSeconds(12), TimeSpan.FromSeconds(300)), settings);
    }

    [Fact]
    public void Sagemaker_hosts_give_rank_by_position_and_the_first_host_as_master()
    {
        var settings = RendezvousSettings.FromEnvironment(Env(("SM_HOSTS", "[\"algo-1\",\"algo-2\",\"algo-3\"]"), ("SM_CURRENT_HOST", "algo-3")));
        Assert.Equal(("algo-1", 29500, 2, 3), (settings.MasterHost, settings.MasterPort, settings.Rank, settings.WorldSize));

        var withPort = RendezvousSettings.FromEnvironment(Env(("SM_HOSTS", "[\"algo-1\",\"algo-2\"]"), ("SM_CURRENT_HOST", "algo-1"), ("FERRY_RENDEZVOUS_PORT", "7777")));
        Assert.Equal((7777, 0), (withPort.MasterPort, withPort.Rank));
    }

    [Fact]
    public void No_variables_means_a_single_process()
    {
        var settings = RendezvousSettings.FromEnvironment(Env());
        Assert.Equal((0, 1), (settings.Rank, settings.WorldSize));
    }

    [Theory]
    [InlineData("RANK", "4", "RANK=4 is not below WORLD_SIZE=4")]
    [InlineData("MASTER_PORT", "http", "MASTER_PORT='http'")]
    [InlineData("FERRY_RENDEZVOUS_TIMEOUT_SECONDS", "-1", "FERRY_RENDEZVOUS_TIMEOUT_SECONDS='-1'")]
    public void Bad_torchrun_values_are_named(string key, string value, string expected)
    {
        var values = new Dictionary<string, string> { ["MASTER_ADDR"] = "h", ["RANK"] = "1", ["WORLD_SIZE"] = "4", [key] = value };
        var error = Assert.Throws<TrainerConfigurationException>(() => RendezvousSettings.FromEnvironment(k => values.GetValueOrDefault(k)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", "algo-1", "SM_HOSTS must be a JSON list")]
    [InlineData("[\"algo-1\"]", "algo-9", "SM_CURRENT_HOST 'algo-9' is not in SM_HOSTS")]
    public void Bad_sagemaker_values_are_named(string hosts, string current, string expected)
    {
        var error = Assert.Throws<TrainerConfigurationException>(() => RendezvousSettings.FromEnvironment(Env(("SM_HOSTS", hosts), ("SM_CURRENT_HOST", current))));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ranks_found_through_sagemaker_variables_form_a_working_ring()
    {
        var port = InProcessWorld.FreePort();
        string[] hosts = ["localhost", "127.0.0.1"];
        var rings = await Task.WhenAll(Enumerable.Range(0, 2).Select(rank => Task.Run(() => Rendezvous.ConnectAsync(RendezvousSettings.FromEnvironment(Env(
                ("SM_HOSTS", "[\"localhost\",\"127.0.0.1\"]"), ("SM_CURRENT_HOST", hosts[rank]), ("FERRY_RENDEZVOUS_PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture))))))))
            .WaitAsync(TimeSpan.FromSeconds(60));
        try
        {
            var results = InProcessWorld.RunRanks(2, rank =>
            {
                var buffer = new[] { (float)rank, 10f };
                rings[rank].AllReduceMean(buffer);
                return buffer;
            });
            Assert.All(results, r => Assert.Equal([0.5f, 10f], r));
            Assert.Equal([0, 1], rings.Select(r => r.Rank));
        }
        finally
        {
            foreach (var ring in rings)
            {
                ring.Dispose();
            }
        }
    }

    [Fact]
    public void An_unreachable_master_times_out_with_a_message_naming_it()
    {
        var port = InProcessWorld.FreePort(); // nobody listens here
        var settings = new RendezvousSettings("127.0.0.1", port, 1, 2, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CollectiveException>(() => Rendezvous.Connect(settings));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("rank 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("FERRY_RENDEZVOUS_TIMEOUT_SECONDS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_master_whose_workers_never_come_times_out_naming_the_missing_ranks()
    {
        var settings = new RendezvousSettings("127.0.0.1", InProcessWorld.FreePort(), 0, 3, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(5));
        var error = Assert.Throws<CollectiveException>(() => Rendezvous.Connect(settings));
        Assert.Contains("never heard from rank(s) 1, 2", error.Message, StringComparison.Ordinal);
    }
}
