using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Models;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Watch: event types, resume without synthetic events, initial ADDED, bookmarks, 410 after compaction, timeouts, selectors.</summary>
public sealed class WatchTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Watch_reports_added_modified_and_deleted_in_order()
    {
        var ns = await host.NewNamespaceAsync();
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true");
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("a"), ns));
        await host.Api.UpdateAsync("v1", "ConfigMap", ns, "a", o => o["data"]!["k"] = "changed");
        await host.Api.DeleteAsync("v1", "ConfigMap", ns, "a");

        var types = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var e = await watch.NextAsync();
            types.Add(e!.Value.Type);
            Assert.Equal("a", (string?)e.Value.Object["metadata"]!["name"]);
        }

        Assert.Equal(["ADDED", "MODIFIED", "DELETED"], types);
    }

    [Fact]
    public async Task Resume_from_a_resource_version_sends_only_later_events_without_synthetic_adds()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("before"), ns));
        var after = await host.Api.UpdateAsync("v1", "ConfigMap", ns, "before", o => o["data"]!["k"] = "2");
        var rv = (string)after["metadata"]!["resourceVersion"]!;
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("later"), ns));

        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}");
        var e = await watch.NextAsync();
        Assert.Equal("ADDED", e!.Value.Type);
        Assert.Equal("later", (string?)e.Value.Object["metadata"]!["name"]);
        Assert.True(await watch.IsQuietAsync(Quiet));
    }

    [Theory]
    [InlineData("&resourceVersion=0")]
    [InlineData("")]
    public async Task Watch_from_zero_or_unset_starts_with_synthetic_added_events(string rv)
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("x"), ns));
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("y"), ns));
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true{rv}");
        var names = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var e = await watch.NextAsync();
            Assert.Equal("ADDED", e!.Value.Type);
            names.Add((string)e.Value.Object["metadata"]!["name"]!);
        }

        Assert.Equal(["x", "y"], names);
    }

    [Fact]
    public async Task Bookmarks_arrive_on_the_injected_clock_with_the_current_resource_version()
    {
        var ns = await host.NewNamespaceAsync();
        var rv = host.Api.Store.ResourceVersion;
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion={rv}");
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("b"), ns));
        Assert.Equal("ADDED", (await watch.NextAsync())!.Value.Type);

        host.Time.Advance(TimeSpan.FromSeconds(10));
        var bookmark = await watch.NextAsync();
        Assert.Equal("BOOKMARK", bookmark!.Value.Type);
        Assert.Equal("ConfigMap", (string?)bookmark.Value.Object["kind"]);
        Assert.True(long.Parse((string)bookmark.Value.Object["metadata"]!["resourceVersion"]!) >= rv + 1);
    }

    [Fact]
    public async Task A_compacted_resource_version_gets_an_error_event_with_410_gone()
    {
        var ns = await host.NewNamespaceAsync();
        var old = host.Api.Store.ResourceVersion;
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("c"), ns));
        host.Api.Faults.CompactHistory();

        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={old}");
        Assert.Equal(200, watch.StatusCode);
        var e = await watch.NextAsync();
        Assert.Equal("ERROR", e!.Value.Type);
        Assert.Equal(410, (int)e.Value.Object["code"]!);
        Assert.Equal("Expired", (string?)e.Value.Object["reason"]);
        Assert.Null(await watch.NextAsync());
    }

    [Fact]
    public async Task Bounded_history_expires_old_resource_versions()
    {
        await using var small = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { EventHistory = 16 });
        using var http = new HttpClient { BaseAddress = small.BaseAddress };
        var start = small.Store.ResourceVersion;
        for (var i = 0; i < 40; i++)
        {
            await small.CreateAsync(Namespaced(EmulatorHost.ConfigMap($"m{i}"), "default"));
        }

        await using var watch = await WatchStream.OpenAsync(http, $"api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start}");
        Assert.Equal("ERROR", (await watch.NextAsync())!.Value.Type);

        await using var recent = await WatchStream.OpenAsync(http, $"api/v1/namespaces/default/configmaps?watch=true&resourceVersion={small.Store.ResourceVersion - 3}");
        Assert.Equal("ADDED", (await recent.NextAsync())!.Value.Type);
    }

    [Fact]
    public async Task Timeout_seconds_ends_the_stream_on_the_injected_clock()
    {
        var ns = await host.NewNamespaceAsync();
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&timeoutSeconds=5&resourceVersion={host.Api.Store.ResourceVersion}");
        host.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Null(await watch.NextAsync());
    }

    [Fact]
    public async Task Label_selector_turns_leaving_objects_into_deleted_and_joining_objects_into_added()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("s", new JsonObject { ["app"] = "a" }), ns));
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=app%3Da&resourceVersion={host.Api.Store.ResourceVersion}");

        await host.Api.UpdateAsync("v1", "ConfigMap", ns, "s", o => o["metadata"]!["labels"]!["app"] = "b");
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("other", new JsonObject { ["app"] = "b" }), ns));
        await host.Api.UpdateAsync("v1", "ConfigMap", ns, "s", o => o["metadata"]!["labels"]!["app"] = "a");

        var left = await watch.NextAsync();
        Assert.Equal(("DELETED", "s"), (left!.Value.Type, (string)left.Value.Object["metadata"]!["name"]!));
        var joined = await watch.NextAsync();
        Assert.Equal(("ADDED", "s"), (joined!.Value.Type, (string)joined.Value.Object["metadata"]!["name"]!));
    }

    [Fact]
    public async Task Watchers_of_one_event_each_get_the_type_their_selector_gives_it_and_the_same_object()
    {
        // An event's wire line is built once per type and shared between watchers: each must still get its own type.
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("s", new JsonObject { ["app"] = "a" }), ns));
        var from = host.Api.Store.ResourceVersion;
        await using var all = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={from}");
        await using var leaving = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=app%3Da&resourceVersion={from}");
        await using var joining = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=app%3Db&resourceVersion={from}");

        await host.Api.UpdateAsync("v1", "ConfigMap", ns, "s", o => o["metadata"]!["labels"]!["app"] = "b");
        await host.Api.UpdateAsync("v1", "ConfigMap", ns, "s", o => o["data"]!["k"] = "second");

        var seen = new List<(string Type, JsonObject Object)>();
        foreach (var (watch, expected) in new[] { (all, new[] { "MODIFIED", "MODIFIED" }), (leaving, ["DELETED"]), (joining, ["ADDED", "MODIFIED"]) })
        {
            foreach (var type in expected)
            {
                var e = (await watch.NextAsync())!.Value;
                Assert.Equal(type, e.Type);
                Assert.Equal("b", (string?)e.Object["metadata"]!["labels"]!["app"]);
                seen.Add(e);
            }
        }

        // The first change reached all three watchers as the same object, whatever type each was told.
        var firstChange = new[] { seen[0], seen[2], seen[3] };
        Assert.Single(firstChange.Select(e => e.Object.ToJsonString()).Distinct());
        Assert.Equal("second", (string?)seen[4].Object["data"]!["k"]);
        Assert.True(await leaving.IsQuietAsync(Quiet));
    }

    [Fact]
    public async Task Cluster_wide_watch_sees_every_namespace_and_namespaced_watch_only_its_own()
    {
        var ns1 = await host.NewNamespaceAsync();
        var ns2 = await host.NewNamespaceAsync();
        var rv = host.Api.Store.ResourceVersion;
        await using var all = await WatchStream.OpenAsync(host.Http, $"api/v1/secrets?watch=true&resourceVersion={rv}");
        await using var one = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns2}/secrets?watch=true&resourceVersion={rv}");
        await host.Api.CreateAsync(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Secret", ["metadata"] = new JsonObject { ["name"] = "s1", ["namespace"] = ns1 } });
        await host.Api.CreateAsync(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Secret", ["metadata"] = new JsonObject { ["name"] = "s2", ["namespace"] = ns2 } });

        Assert.Equal(ns1, (string?)(await all.NextAsync())!.Value.Object["metadata"]!["namespace"]);
        Assert.Equal(ns2, (string?)(await all.NextAsync())!.Value.Object["metadata"]!["namespace"]);
        Assert.Equal("s2", (string?)(await one.NextAsync())!.Value.Object["metadata"]!["name"]);
    }

    [Fact]
    public async Task Dropped_watch_streams_end_and_the_client_can_resume()
    {
        var ns = await host.NewNamespaceAsync();
        var rv = host.Api.Store.ResourceVersion;
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}");
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("d1"), ns));
        var first = await watch.NextAsync();
        Assert.True(host.Api.Faults.DropWatches("configmaps") >= 1);
        Assert.Null(await watch.NextAsync());

        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("d2"), ns));
        var lastSeen = (string)first!.Value.Object["metadata"]!["resourceVersion"]!;
        await using var resumed = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={lastSeen}");
        Assert.Equal("d2", (string?)(await resumed.NextAsync())!.Value.Object["metadata"]!["name"]);
    }

    [Fact]
    public async Task KubernetesClient_typed_watch_receives_events()
    {
        var ns = await host.NewNamespaceAsync();
        var clients = new k8s.ClientSets.ClientSet(host.Client);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var enumerator = clients.CoreV1.ConfigMap.WatchListAsync(ns, resourceVersion: host.Api.Store.ResourceVersion.ToString(), cancellationToken: cts.Token).GetAsyncEnumerator(cts.Token);
        var moved = enumerator.MoveNextAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("typed"), ns));
        Assert.True(await moved);
        Assert.Equal(WatchEventType.Added, enumerator.Current.Item1);
        Assert.Equal("typed", enumerator.Current.Item2.Metadata.Name);
        await cts.CancelAsync();
        try
        {
            await enumerator.DisposeAsync();
        }
        catch (OperationCanceledException)
        {
            // The watch was cancelled on purpose.
        }
    }

    [Fact]
    public async Task Table_watch_wraps_each_event_in_a_one_row_table()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("tw"), ns));
        await using var watch = await WatchStream.OpenAsync(host.Http, $"api/v1/namespaces/{ns}/configmaps?watch=true&includeObject=Object",
            accept: "application/json;as=Table;v=v1;g=meta.k8s.io");
        var first = await watch.NextAsync();
        Assert.Equal("ADDED", first!.Value.Type);
        Assert.Equal("Table", (string?)first.Value.Object["kind"]);
        Assert.Equal(["Name", "Age"], first.Value.Object["columnDefinitions"]!.AsArray().Select(c => (string)c!["name"]!));
        Assert.Equal("tw", (string?)first.Value.Object["rows"]![0]!["cells"]![0]);
        Assert.Equal("ConfigMap", (string?)first.Value.Object["rows"]![0]!["object"]!["kind"]);

        await host.Api.UpdateAsync("v1", "ConfigMap", ns, "tw", o => o["data"]!["k"] = "2");
        var second = await watch.NextAsync();
        Assert.Equal("MODIFIED", second!.Value.Type);
        Assert.Single(second.Value.Object["rows"]!.AsArray());
    }

    [Fact]
    public async Task Send_initial_events_ends_with_the_initial_events_end_bookmark()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Namespaced(EmulatorHost.ConfigMap("i1"), ns));
        await using var watch = await WatchStream.OpenAsync(host.Http,
            $"api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan");
        Assert.Equal("ADDED", (await watch.NextAsync())!.Value.Type);
        var bookmark = await watch.NextAsync();
        Assert.Equal("BOOKMARK", bookmark!.Value.Type);
        Assert.Equal("true", (string?)bookmark.Value.Object["metadata"]!["annotations"]!["k8s.io/initial-events-end"]);
    }

    private static JsonObject Namespaced(JsonObject o, string ns)
    {
        o["metadata"]!["namespace"] = ns;
        return o;
    }
}
