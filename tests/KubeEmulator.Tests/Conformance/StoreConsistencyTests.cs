using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Store;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Lists and watches read the store without its commit lock; what they return must still be one consistent snapshot.</summary>
public sealed class StoreConsistencyTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    private const int Objects = 300;

    [Fact]
    public async Task Lists_taken_during_concurrent_writes_are_exact_snapshots_at_their_resource_version()
    {
        var ns = await host.NewNamespaceAsync("snap");
        var collection = host.Api.Registry.Find("", "v1", "configmaps")!.Collection;
        var writes = new ConcurrentDictionary<string, ConcurrentBag<long>>(StringComparer.Ordinal);
        var lists = new ConcurrentQueue<(List<StoredObject> Items, long ResourceVersion)>();
        var writersDone = 0;

        // The writers pause every 50 writes until a list has been taken since, so lists always interleave with the writes
        // (however the machine schedules the threads); between pauses the lists run concurrently with the writes.
        async Task AwaitListsAsync(int i)
        {
            while (lists.Count < i / 50)
            {
                await Task.Delay(1);
            }
        }

        // Writers to this collection (creates, then updates) and to another collection (which moves the global resourceVersion).
        var configMaps = Task.Run(async () =>
        {
            for (var i = 0; i < Objects; i++)
            {
                await AwaitListsAsync(i);
                var name = $"cm-{i:D4}";
                Record(name, await host.Api.CreateAsync(ConfigMap(ns, name, "0")));
                if (i % 3 == 0)
                {
                    var earlier = $"cm-{i / 2:D4}";
                    Record(earlier, await host.Api.UpdateAsync("v1", "ConfigMap", ns, earlier, o => o["data"]!["v"] = i.ToString(CultureInfo.InvariantCulture)));
                }
            }

            Interlocked.Increment(ref writersDone);
        });
        var secrets = Task.Run(async () =>
        {
            for (var i = 0; i < Objects; i++)
            {
                await AwaitListsAsync(i);
                await host.Api.CreateAsync(new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "Secret",
                    ["metadata"] = new JsonObject { ["name"] = $"s-{i:D4}", ["namespace"] = ns },
                });
            }

            Interlocked.Increment(ref writersDone);
        });
        var reader = Task.Run(() =>
        {
            // At most 1,000 lists (each is checked against every write below).
            while (Volatile.Read(ref writersDone) < 2)
            {
                if (lists.Count < 1_000)
                {
                    lists.Enqueue(host.Api.Store.Snapshot(collection, ns));
                }

                Thread.Sleep(lists.Count < 1_000 ? 0 : 1);
            }
        });

        await Task.WhenAll(configMaps, secrets, reader);
        lists.Enqueue(host.Api.Store.Snapshot(collection, ns));
        Assert.True(lists.Count > Objects / 50, $"only {lists.Count} lists were taken");

        foreach (var (items, rv) in lists)
        {
            // Exactly the objects written at or below rv, each at its latest write at or below rv, in key order.
            var expected = writes
                .Select(w => (Name: w.Key, Version: w.Value.Where(v => v <= rv).DefaultIfEmpty(0).Max()))
                .Where(w => w.Version > 0)
                .OrderBy(w => w.Name, StringComparer.Ordinal)
                .ToList();
            Assert.Equal(expected, items.Select(o => (o.Name, o.ResourceVersion)).ToList());
        }

        Assert.Equal(Objects, lists.Last().Items.Count);

        void Record(string name, JsonObject written) =>
            writes.GetOrAdd(name, _ => []).Add(long.Parse((string)written["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_watch_from_zero_opened_during_writes_sees_every_object_once_and_then_every_later_change()
    {
        var ns = await host.NewNamespaceAsync("snapwatch");
        var collection = host.Api.Registry.Find("", "v1", "configmaps")!.Collection;
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < Objects; i++)
            {
                await host.Api.CreateAsync(ConfigMap(ns, $"cm-{i:D4}", "0"));
                await host.Api.UpdateAsync("v1", "ConfigMap", ns, $"cm-{i / 2:D4}", o => o["data"]!["v"] = i.ToString(CultureInfo.InvariantCulture));
            }
        });

        // Open the watch part-way through the writes.
        await Eventually.ValueAsync(() => collection.Snapshot(ns).Count, count => count >= Objects / 3, "a third of the objects");
        using var sub = host.Api.Store.Subscribe(collection, ns, 0, out var initial);
        await writer;
        var finalRv = host.Api.Store.ResourceVersion;

        Assert.All(initial, e => Assert.Equal(WatchEventType.Added, e.Type));
        Assert.Equal(initial.Count, initial.Select(e => e.Object.Name).Distinct().Count());
        var seen = initial.ToDictionary(e => e.Object.Name, e => e.Object.ResourceVersion, StringComparer.Ordinal);
        var startRv = seen.Values.Max();
        var last = 0L;
        while (sub.Events.Reader.TryRead(out var e))
        {
            // Later events follow the initial state: none is older than it, and they arrive in resourceVersion order.
            Assert.True(e.ResourceVersion > startRv, $"event at {e.ResourceVersion} is already in the initial state (up to {startRv})");
            Assert.True(e.ResourceVersion > last);
            last = e.ResourceVersion;
            Assert.Equal(seen.ContainsKey(e.Object.Name) ? WatchEventType.Modified : WatchEventType.Added, e.Type);
            seen[e.Object.Name] = e.ResourceVersion;
        }

        Assert.True(last <= finalRv);
        var final = collection.Snapshot(ns).ToDictionary(o => o.Name, o => o.ResourceVersion, StringComparer.Ordinal);
        Assert.Equal(final.OrderBy(kv => kv.Key, StringComparer.Ordinal), seen.OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_status_write_by_another_manager_owns_only_the_changed_status_fields_and_keeps_other_entries()
    {
        var ns = await host.NewNamespaceAsync("mf");
        var path = $"api/v1/namespaces/{ns}/pods";
        var pod = """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"1"}},"spec":{"containers":[{"name":"main","image":"img"}]}}""";
        var (created, createdBody, _) = await host.SendAsync(HttpMethod.Post, path + "?fieldManager=creator", pod);
        Assert.Equal(201, created);
        // The create owns what it wrote, including the status the server reset it to (phase Pending).
        Assert.Contains("\"f:status\":{\"f:phase\":{},\"f:qosClass\":{}}", Entry(createdBody!, "creator", null)!["fieldsV1"]!.ToJsonString(), StringComparison.Ordinal);

        var first = (JsonObject)createdBody!.DeepClone();
        first["status"]!["phase"] = "Running";
        first["status"]!["podIP"] = "10.0.0.9";
        var (s1, afterFirst, _) = await host.SendAsync(HttpMethod.Put, $"{path}/p/status?fieldManager=node", first.ToJsonString());
        Assert.Equal(200, s1);
        Assert.Equal("""{"f:status":{"f:phase":{},"f:podIP":{}}}""", Entry(afterFirst!, "node", "status")!["fieldsV1"]!.ToJsonString());
        var creatorAfterFirst = Entry(afterFirst!, "creator", null)!["fieldsV1"]!.ToJsonString();
        Assert.Contains("\"f:status\":{\"f:qosClass\":{}}", creatorAfterFirst, StringComparison.Ordinal);
        Assert.Contains("f:containers", creatorAfterFirst, StringComparison.Ordinal);
        var creatorEntry = Entry(afterFirst!, "creator", null)!.ToJsonString();

        // A second status write that changes one leaf adds only that leaf; a label change by a third manager takes the label
        // away from the creator's entry and leaves the node's entry as it was.
        var second = (JsonObject)afterFirst!.DeepClone();
        second["status"]!["phase"] = "Succeeded";
        second["status"]!["message"] = "done";
        var (s2, afterSecond, _) = await host.SendAsync(HttpMethod.Put, $"{path}/p/status?fieldManager=node", second.ToJsonString());
        Assert.Equal(200, s2);
        Assert.Equal(creatorEntry, Entry(afterSecond!, "creator", null)!.ToJsonString());
        Assert.Equal("""{"f:status":{"f:message":{},"f:phase":{},"f:podIP":{}}}""", Entry(afterSecond!, "node", "status")!["fieldsV1"]!.ToJsonString());
        var nodeEntry = Entry(afterSecond!, "node", "status")!.ToJsonString();

        var (s3, afterLabel, _) = await host.SendAsync(HttpMethod.Patch, $"{path}/p?fieldManager=labeller", """{"metadata":{"labels":{"a":"2"}}}""", "application/merge-patch+json");
        Assert.Equal(200, s3);
        Assert.Equal(nodeEntry, Entry(afterLabel!, "node", "status")!.ToJsonString());
        Assert.Equal("""{"f:metadata":{"f:labels":{"f:a":{}}}}""", Entry(afterLabel!, "labeller", null)!["fieldsV1"]!.ToJsonString());
        var creatorFields = Entry(afterLabel!, "creator", null)!["fieldsV1"]!.ToJsonString();
        Assert.DoesNotContain("f:labels", creatorFields, StringComparison.Ordinal);
        Assert.Contains("f:containers", creatorFields, StringComparison.Ordinal);
    }

    private static JsonObject? Entry(JsonNode obj, string manager, string? subresource) =>
        obj["metadata"]!["managedFields"]!.AsArray().OfType<JsonObject>()
            .SingleOrDefault(e => (string?)e["manager"] == manager && (string?)e["subresource"] == subresource);

    private static JsonObject ConfigMap(string ns, string name, string value) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        ["data"] = new JsonObject { ["v"] = value },
    };
}
