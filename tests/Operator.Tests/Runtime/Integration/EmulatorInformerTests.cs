using System.Collections.Concurrent;
using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Faults;
using Ferry.Operator.Runtime.Finalizers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Timing;
using Ferry.Operator.Tests.Runtime.Support;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Tests.Runtime.Integration;

/// <summary>The informer and resource client against the Kubernetes API emulator over real HTTP.</summary>
public sealed class EmulatorInformerTests : IAsyncLifetime
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _events = new();
    private KubeApiEmulator _api = null!;
    private Kubernetes _client = null!;
    private KubernetesResourceClient<V1Pod> _pods = null!;
    private Task? _run;

    public async Task InitializeAsync()
    {
        _api = await KubeApiEmulator.StartAsync();
        _client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(_api.KubeconfigPath));
        _pods = new KubernetesResourceClient<V1Pod>(_client);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(Wait.Generous);
        }

        _client.Dispose();
        await _api.DisposeAsync();
        _stop.Dispose();
    }

    private Informer<V1Pod> StartInformer(TimeSpan? idleTimeout = null)
    {
        var informer = new Informer<V1Pod>(_pods, new InformerOptions
        {
            Namespaces = ["default"],
            WatchIdleTimeout = idleTimeout ?? TimeSpan.FromMinutes(5),
            Backoff = new ExponentialBackoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400)),
        });
        informer.AddHandler(new ResourceEventHandler<V1Pod>(
            p => _events.Enqueue("add " + p.Metadata.Name),
            (_, p) => _events.Enqueue("update " + p.Metadata.Name),
            p => _events.Enqueue("delete " + p.Metadata.Name)));
        _run = informer.RunAsync(_stop.Token);
        return informer;
    }

    private static V1Pod NewPod(string name, Dictionary<string, string>? labels = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Labels = labels },
        Spec = new V1PodSpec { Containers = [new V1Container { Name = "main", Image = "busybox" }] },
    };

    private async Task CreateConfigMapToMoveTheResourceVersion(string name)
    {
        var configMaps = new KubernetesResourceClient<V1ConfigMap>(_client);
        await configMaps.CreateAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" } });
    }

    [Fact]
    public async Task Informer_sees_creates_updates_and_deletes()
    {
        await _pods.CreateAsync(NewPod("before", new() { ["app"] = "x" }));
        var informer = StartInformer();
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        Assert.True(informer.Cache.TryGet("default", "before", out _));

        var created = await _pods.CreateAsync(NewPod("after", new() { ["app"] = "y" }));
        await Wait.UntilAsync(() => informer.Cache.TryGet("default", "after", out _), "created pod cached");

        var replaced = await _pods.PatchAsync("default", created.Metadata.Name,
            new V1Patch($"{{\"metadata\":{{\"resourceVersion\":\"{created.Metadata.ResourceVersion}\",\"labels\":{{\"app\":\"z\"}}}}}}", V1Patch.PatchType.MergePatch));
        await Wait.UntilAsync(() => informer.Cache.List("default", "app=z").Count == 1, "updated labels cached");
        Assert.Equal(replaced.Metadata.ResourceVersion, informer.Cache.List("default", "app=z")[0].Metadata.ResourceVersion);

        Assert.True(await _pods.DeleteAsync("default", "before", new V1DeleteOptions { GracePeriodSeconds = 0 }));
        // Handlers run right after the cache changes, on the informer's loop: wait for both.
        await Wait.UntilAsync(() => !informer.Cache.TryGet("default", "before", out _) && _events.Contains("delete before"), "deleted pod removed and handlers told");
        Assert.Contains("delete before", _events);
        Assert.Contains("update after", _events);
        Assert.Equal(1, informer.Lists);
    }

    [Fact]
    public async Task Dropped_streams_resume_without_relisting()
    {
        var informer = StartInformer();
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        await Wait.UntilAsync(() => _api.Store.OpenWatches > 0, "watch open");

        for (var i = 0; i < 3; i++)
        {
            await _pods.CreateAsync(NewPod($"p{i}"));
            await Wait.UntilAsync(() => informer.Cache.Count == i + 1, $"p{i} cached");
            Assert.True(_api.Faults.DropWatches("pods") >= 1);
            await Wait.UntilAsync(() => informer.WatchRestarts >= i + 1, "watch reopened");
        }

        await _pods.CreateAsync(NewPod("last"));
        await Wait.UntilAsync(() => informer.Cache.TryGet("default", "last", out _), "pod after the drops cached");
        Assert.Equal(1, informer.Lists);
        Assert.Equal(4, informer.Cache.Count);
    }

    [Fact]
    public async Task Compacted_history_forces_a_relist_that_drops_objects_deleted_meanwhile()
    {
        await _pods.CreateAsync(NewPod("keep"));
        await _pods.CreateAsync(NewPod("gone"));
        var informer = StartInformer();
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        await Wait.UntilAsync(() => _api.Store.OpenWatches > 0, "watch open");

        // Keep the informer from watching while the world changes and the history is compacted.
        var outage = _api.Faults.Add(new FaultRule { Verb = "watch", Resource = "pods", StatusCode = 503 });
        _api.Faults.DropWatches("pods");
        await _pods.DeleteAsync("default", "gone", new V1DeleteOptions { GracePeriodSeconds = 0 });
        await _pods.CreateAsync(NewPod("new"));
        await CreateConfigMapToMoveTheResourceVersion("bump");
        _api.Faults.CompactHistory();
        _api.Faults.Remove(outage);

        await Wait.UntilAsync(() => informer.Lists == 2, "relisted after 410");
        await Wait.UntilAsync(
            () => informer.Cache.Count == 2 && informer.Cache.TryGet("default", "new", out _) && _events.Contains("delete gone"),
            "cache converged and handlers told");
        Assert.False(informer.Cache.TryGet("default", "gone", out _));
        Assert.Contains("delete gone", _events);

        await _pods.CreateAsync(NewPod("later"));
        await Wait.UntilAsync(() => informer.Cache.TryGet("default", "later", out _), "watching again after the relist");
    }

    [Fact]
    public async Task Hung_watch_is_abandoned_after_the_idle_timeout()
    {
        _api.Faults.Add(new FaultRule { Verb = "watch", Resource = "pods", Kind = FaultKind.Hang, Times = 1 });
        var informer = StartInformer(idleTimeout: TimeSpan.FromMilliseconds(500));
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);

        await _pods.CreateAsync(NewPod("seen"));
        await Wait.UntilAsync(() => informer.Cache.TryGet("default", "seen", out _), "pod seen after the hung watch was replaced");
        Assert.True(informer.WatchRestarts >= 1);
        Assert.Equal(1, informer.Lists);
    }

    [Fact]
    public async Task Finalizer_patches_carry_the_resource_version_and_a_stale_one_conflicts()
    {
        var pod = await _pods.CreateAsync(NewPod("guarded"));
        var withFinalizer = await Finalizers.EnsureAsync(_pods, pod, "ferry.dev/cleanup", CancellationToken.None);
        Assert.Contains("ferry.dev/cleanup", withFinalizer.Metadata.Finalizers);
        Assert.Same(withFinalizer, await Finalizers.EnsureAsync(_pods, withFinalizer, "ferry.dev/cleanup", CancellationToken.None));

        // `pod` is stale now: patching from it must not silently win.
        var conflict = await Assert.ThrowsAsync<KubernetesApiException>(
            () => Finalizers.EnsureAsync(_pods, pod, "other.dev/x", CancellationToken.None));
        Assert.True(conflict.IsConflict, conflict.Message);

        var without = await Finalizers.RemoveAsync(_pods, withFinalizer, "ferry.dev/cleanup", CancellationToken.None);
        Assert.True(without.Metadata.Finalizers is null || !without.Metadata.Finalizers.Contains("ferry.dev/cleanup"));
    }

    [Fact]
    public async Task Resource_client_reports_missing_objects_and_api_errors()
    {
        Assert.Null(await _pods.GetAsync("default", "nope"));
        Assert.False(await _pods.DeleteAsync("default", "nope"));
        await _pods.CreateAsync(NewPod("twice"));
        var duplicate = await Assert.ThrowsAsync<KubernetesApiException>(() => _pods.CreateAsync(NewPod("twice")));
        Assert.True(duplicate.IsConflict);
        Assert.Equal("AlreadyExists", duplicate.Status?.Reason);

        var list = await _pods.ListAsync("default");
        Assert.Single(list.Items);
        Assert.False(string.IsNullOrEmpty(list.ResourceVersion));
    }
}
