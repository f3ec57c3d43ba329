using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>The emulator must not be the bottleneck: 10,000 stored objects and 1,000 watch events per second.</summary>
public sealed class PerformanceTests
{
    [Fact]
    public async Task Ten_thousand_objects_and_a_thousand_watched_writes_stay_fast()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        using var http = new HttpClient { BaseAddress = api.BaseAddress };
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 10_000; i++)
        {
            await api.CreateAsync(new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "ConfigMap",
                ["metadata"] = new JsonObject { ["name"] = $"cm-{i:D5}", ["namespace"] = "default", ["labels"] = new JsonObject { ["shard"] = (i % 10).ToString() } },
                ["data"] = new JsonObject { ["i"] = i.ToString() },
            });
        }

        var createTime = clock.Elapsed;
        clock.Restart();
        var list = JsonNode.Parse(await http.GetStringAsync("api/v1/namespaces/default/configmaps?labelSelector=shard%3D3"))!;
        Assert.Equal(1_000, list["items"]!.AsArray().Count);
        var listTime = clock.Elapsed;

        await using var watch = await WatchStream.OpenAsync(http, $"api/v1/namespaces/default/configmaps?watch=true&resourceVersion={api.Store.ResourceVersion}");
        clock.Restart();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                await api.UpdateAsync("v1", "ConfigMap", "default", $"cm-{i:D5}", o => o["data"]!["i"] = "updated");
            }
        });
        for (var i = 0; i < 1_000; i++)
        {
            Assert.Equal("MODIFIED", (await watch.NextAsync())!.Value.Type);
        }

        await writer;
        var watchTime = clock.Elapsed;

        Console.WriteLine($"creates {createTime}, list {listTime}, watch {watchTime}");

        // Generous bounds for a 2-core CI machine; typical runs are several times faster.
        Assert.True(createTime < TimeSpan.FromSeconds(20), $"10,000 creates took {createTime}");
        Assert.True(listTime < TimeSpan.FromSeconds(2), $"a selector list over 10,000 objects took {listTime}");
        // A write streamed to a watcher costs about what a create costs: a tenth of the creates' time, with a wide margin,
        // so a machine busy with other builds (which slows both alike) does not fail it, while a slow watch path still does.
        var watchBound = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(2).Ticks, createTime.Ticks / 2));
        Assert.True(watchTime < watchBound, $"1,000 watched writes took {watchTime} (10,000 creates took {createTime})");
    }
}
