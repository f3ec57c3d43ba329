using System.Collections.Concurrent;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Timing;
using Ferry.Operator.Tests.Runtime.Support;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Runtime.Support.Pods;

namespace Ferry.Operator.Tests.Runtime.Informers;

public sealed class InformerTests : IAsyncDisposable
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(2);
    private readonly TestTime _time = new();
    private readonly ScriptedResourceClient<V1Pod> _source = new(ResourceKind.Pods);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _events = new();
    private Task? _run;

    private Informer<V1Pod> Start(InformerOptions? options = null)
    {
        var informer = new Informer<V1Pod>(_source, options ?? new InformerOptions
        {
            WatchIdleTimeout = IdleTimeout,
            Backoff = new ExponentialBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), Jitter: 0),
        }, _time);
        informer.AddHandler(new ResourceEventHandler<V1Pod>(
            p => _events.Enqueue($"add {p.Metadata.Name}@{p.Metadata.ResourceVersion}"),
            (_, p) => _events.Enqueue($"update {p.Metadata.Name}@{p.Metadata.ResourceVersion}"),
            p => _events.Enqueue($"delete {p.Metadata.Name}")));
        _run = informer.RunAsync(_stop.Token);
        return informer;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(Wait.Generous);
        }

        _stop.Dispose();
    }

    private static string[] Names(IInformerCache<V1Pod> cache) =>
        [.. cache.List().Select(p => $"{p.Metadata.Name}@{p.Metadata.ResourceVersion}").Order()];

    [Fact]
    public async Task First_list_fills_the_cache_marks_synced_and_watches_from_the_list_version()
    {
        _source.EnqueueList("10", Pod("a", "5"), Pod("b", "7"));
        var informer = Start();

        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        var watch = await _source.WatchAsync(0);

        Assert.True(informer.HasSynced);
        Assert.Equal(["a@5", "b@7"], Names(informer.Cache));
        Assert.Equal("10", watch.ResourceVersion);
        Assert.Equal(["add a@5", "add b@7"], _events.Order());
    }

    [Fact]
    public async Task Dropped_stream_resumes_from_the_last_seen_resource_version_without_listing_again()
    {
        _source.EnqueueList("10", Pod("a", "5"));
        var informer = Start();
        var first = await _source.WatchAsync(0);

        first.Send(WatchEventType.Added, Pod("b", "11"));
        first.Send(WatchEventType.Modified, Pod("a", "12"));
        first.Drop();
        var second = await _source.WatchAsync(1);

        Assert.Equal("12", second.ResourceVersion);
        Assert.Equal(1, _source.ListCalls);
        Assert.Equal(["a@12", "b@11"], Names(informer.Cache));

        second.Send(WatchEventType.Deleted, Pod("b", "13"));
        // Handlers run right after the cache changes, on the informer's loop: wait for both.
        await Wait.UntilAsync(() => informer.Cache.Count == 1 && _events.Contains("delete b"), "b deleted from the cache and handlers told");
        Assert.False(informer.Cache.TryGet("default", "b", out _));
        Assert.Contains("delete b", _events);
        Assert.Contains("update a@12", _events);
    }

    [Fact]
    public async Task A_watch_closed_without_any_event_is_reopened_after_a_backoff()
    {
        _source.EnqueueList("10");
        Start();
        var first = await _source.WatchAsync(0);
        var timers = _time.TimersCreated;

        first.Drop();
        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(1), timers);
        Assert.Equal(1, _source.WatchCalls);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("10", (await _source.WatchAsync(1)).ResourceVersion);
    }

    [Fact]
    public async Task Bookmark_advances_the_resume_version()
    {
        _source.EnqueueList("10", Pod("a", "5"));
        Start();
        var first = await _source.WatchAsync(0);

        first.Send(WatchEventType.Bookmark, Bookmark("20"));
        first.Drop();
        var second = await _source.WatchAsync(1);

        Assert.Equal("20", second.ResourceVersion);
        Assert.Equal(1, _source.ListCalls);
    }

    [Fact]
    public async Task Gone_error_event_relists_and_the_cache_converges_with_deletes()
    {
        _source.EnqueueList("10", Pod("a", "5"), Pod("b", "6"), Pod("c", "7"));
        var informer = Start();
        var first = await _source.WatchAsync(0);

        // Meanwhile on the server: b deleted, a changed, d created, c unchanged.
        _source.EnqueueList("40", Pod("a", "30"), Pod("c", "7"), Pod("d", "35"));
        first.SendError(410, "too old resource version: 10 (25)");
        var second = await _source.WatchAsync(1);

        Assert.Equal("40", second.ResourceVersion);
        Assert.Equal(2, _source.ListCalls);
        Assert.Equal(["a@30", "c@7", "d@35"], Names(informer.Cache));
        Assert.Contains("delete b", _events);
        Assert.Contains("update a@30", _events);
        Assert.Contains("add d@35", _events);
        Assert.DoesNotContain("update c@7", _events);
    }

    [Fact]
    public async Task Gone_status_on_watch_start_relists()
    {
        _source.EnqueueList("10", Pod("a", "5"));
        var informer = Start();
        var first = await _source.WatchAsync(0);

        _source.EnqueueWatchStartFailure(ScriptedResourceClient<V1Pod>.Gone());
        _source.EnqueueList("50", Pod("z", "49"));
        first.Send(WatchEventType.Bookmark, Bookmark("15"));
        first.Drop();
        var third = await _source.WatchAsync(2);

        Assert.Equal("50", third.ResourceVersion);
        Assert.Equal(["z@49"], Names(informer.Cache));
        Assert.Contains("delete a", _events);
    }

    [Fact]
    public async Task Silent_watch_is_restarted_after_the_idle_timeout_from_the_same_version()
    {
        _source.EnqueueList("10", Pod("a", "5"));
        var informer = Start();
        var first = await _source.WatchAsync(0);
        first.Send(WatchEventType.Modified, Pod("a", "11"));
        await Wait.UntilAsync(() => informer.Cache.TryGet("default", "a", out var a) && a.Metadata.ResourceVersion == "11", "a@11 cached");

        _time.Advance(IdleTimeout - TimeSpan.FromSeconds(1));
        Assert.False(first.Token.IsCancellationRequested);
        Assert.Equal(1, _source.WatchCalls);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(first.Token.IsCancellationRequested);
        var second = await _source.WatchAsync(1);

        Assert.Equal("11", second.ResourceVersion);
        Assert.Equal(1, _source.ListCalls);
        Assert.Equal(1, informer.WatchRestarts);
    }

    [Fact]
    public async Task Events_reset_the_idle_timer()
    {
        _source.EnqueueList("10", Pod("a", "5"));
        var informer = Start();
        var first = await _source.WatchAsync(0);

        for (var i = 0; i < 3; i++)
        {
            _time.Advance(IdleTimeout - TimeSpan.FromSeconds(10));
            var version = $"{20 + i}";
            first.Send(WatchEventType.Modified, Pod("a", version));
            await Wait.UntilAsync(() => informer.Cache.TryGet("default", "a", out var a) && a.Metadata.ResourceVersion == version, $"a@{version}");
        }

        Assert.False(first.Token.IsCancellationRequested);
        Assert.Equal(1, _source.WatchCalls);
    }

    [Fact]
    public async Task List_errors_back_off_exponentially_before_retrying()
    {
        _source.EnqueueListFailure(new HttpRequestException("connection refused"));
        _source.EnqueueListFailure(new HttpRequestException("connection refused"));
        _source.EnqueueList("10", Pod("a", "5"));
        var informer = Start();

        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(1));
        Assert.Equal(1, _source.ListCalls);
        _time.Advance(TimeSpan.FromSeconds(1));

        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(2));
        Assert.Equal(2, _source.ListCalls);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, _source.ListCalls);
        Assert.False(informer.HasSynced);
        _time.Advance(TimeSpan.FromSeconds(1));

        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        Assert.Equal(3, _source.ListCalls);
        Assert.Equal(["a@5"], Names(informer.Cache));
    }

    [Fact]
    public async Task Watch_error_events_other_than_gone_back_off_and_resume_without_relisting()
    {
        _source.EnqueueList("10", Pod("a", "5"));
        Start();
        var first = await _source.WatchAsync(0);
        first.Send(WatchEventType.Modified, Pod("a", "12"));
        first.SendError(500, "etcd leader changed");

        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        var second = await _source.WatchAsync(1);

        Assert.Equal("12", second.ResourceVersion);
        Assert.Equal(1, _source.ListCalls);
    }

    [Fact]
    public async Task Several_namespaces_sync_separately_and_a_relist_only_touches_its_namespace()
    {
        // Lists are answered in call order; each namespace's loop takes one.
        var source = new NamespacedSource();
        source.Lists["team-a"] = new Queue<ResourceList<V1Pod>>([new([Pod("a1", "3", "team-a")], "10")]);
        source.Lists["team-b"] = new Queue<ResourceList<V1Pod>>([new([Pod("b1", "4", "team-b")], "11"), new([], "12")]);
        var informer = new Informer<V1Pod>(source, new InformerOptions { Namespaces = ["team-a", "team-b"] }, _time);
        _run = informer.RunAsync(_stop.Token);

        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        Assert.Equal(2, informer.Cache.Count);
        Assert.Single(informer.Cache.List("team-a"));

        source.GoneFor("team-b");
        await Wait.UntilAsync(() => informer.Cache.List("team-b").Count == 0, "team-b relisted empty");
        Assert.True(informer.Cache.TryGet("team-a", "a1", out _));
    }

    /// <summary>Per-namespace lists; watches idle until the test makes one namespace's watch report 410.</summary>
    private sealed class NamespacedSource : IResourceClient<V1Pod>
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _gone = new();

        public ConcurrentDictionary<string, Queue<ResourceList<V1Pod>>> Lists { get; } = new();

        public ResourceKind Kind => ResourceKind.Pods;

        public void GoneFor(string ns) => _gone.GetOrAdd(ns, _ => new TaskCompletionSource()).TrySetResult();

        public Task<ResourceList<V1Pod>> ListAsync(string? ns, string? labelSelector = null, CancellationToken cancellationToken = default)
        {
            lock (Lists)
            {
                return Task.FromResult(Lists[ns!].Dequeue());
            }
        }

        public async IAsyncEnumerable<WatchEvent<V1Pod>> WatchAsync(string? ns, string resourceVersion, string? labelSelector = null,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var gone = _gone.GetOrAdd(ns!, _ => new TaskCompletionSource());
            await gone.Task.WaitAsync(cancellationToken);
            _gone[ns!] = new TaskCompletionSource();
            yield return new WatchEvent<V1Pod>(WatchEventType.Error, null, new V1Status { Code = 410 });
        }

        public Task<V1Pod?> GetAsync(string? ns, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<V1Pod> CreateAsync(V1Pod obj, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<V1Pod> PatchAsync(string? ns, string name, V1Patch patch, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public Task<V1Pod> ReplaceStatusAsync(V1Pod obj, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(string? ns, string name, V1DeleteOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();
    }
}
