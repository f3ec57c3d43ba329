using Ferry.Operator.Runtime.Informers;
using k8s.Models;
using static Ferry.Operator.Tests.Runtime.Support.Pods;

namespace Ferry.Operator.Tests.Runtime.Informers;

/// <summary>Read-your-writes over a cache that lags behind the API.</summary>
public sealed class WriteExpectationsTests
{
    private readonly InformerCache<V1Pod> _cache = new();
    private readonly WriteExpectations<V1Pod> _overlay;

    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _time = new();

    public WriteExpectationsTests() => _overlay = new WriteExpectations<V1Pod>(_cache, pod => pod.Metadata.Labels?["job"] ?? "a", _time);

    [Fact]
    public void A_child_created_and_deleted_before_anyone_looked_leaves_no_ghost()
    {
        _overlay.Written(Pod("p0", "10"));

        // The watch delivers ADDED and DELETED before the next reconcile reads the expectations.
        _cache.Upsert(Pod("p0", "10"));
        _cache.Remove(Pod("p0", "11"));

        Assert.Empty(View());
        Assert.Null(_overlay.Get("default", "p0"));
        Assert.Equal(0, _overlay.PendingCount);
    }

    [Fact]
    public void A_create_the_watch_never_confirms_expires_after_five_minutes()
    {
        _overlay.Written(Pod("p0", "10"));
        _time.Advance(WriteExpectations<V1Pod>.Expiry - TimeSpan.FromSeconds(1));
        Assert.Equal(["p0@10"], View());

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(View());
        Assert.Equal(0, _overlay.PendingCount);
    }

    private IReadOnlyList<string> View() =>
        [.. _overlay.Apply(_cache.List(), "a").Select(p => $"{p.Object.Metadata.Name}@{p.Object.Metadata.ResourceVersion}{(p.DeletePending ? "-deleting" : "")}").Order()];

    [Fact]
    public void A_created_object_is_seen_before_the_watch_delivers_it_and_retires_once_it_does()
    {
        _overlay.Written(Pod("p0", "10"));

        Assert.Equal("10", _overlay.Get("default", "p0")!.Metadata.ResourceVersion);
        Assert.Equal(["p0@10"], View());
        Assert.Equal(1, _overlay.PendingCount);

        _cache.Upsert(Pod("p0", "10"));
        Assert.Equal(["p0@10"], View());
        Assert.Equal(0, _overlay.PendingCount);
    }

    [Fact]
    public void An_update_wins_over_the_older_cached_version_until_the_cache_moves()
    {
        _cache.Upsert(Pod("job", "5"));
        _overlay.Written(Pod("job", "6"), basedOn: Pod("job", "5"));
        Assert.Equal("6", _overlay.Get("default", "job")!.Metadata.ResourceVersion);

        // A later change by someone else (version 7) is newer than our write: the cache wins from then on.
        _cache.Upsert(Pod("job", "7"));
        Assert.Equal("7", _overlay.Get("default", "job")!.Metadata.ResourceVersion);
        Assert.Equal(0, _overlay.PendingCount);
    }

    [Fact]
    public void A_write_the_watch_delivered_before_the_answer_is_not_remembered()
    {
        _cache.Upsert(Pod("job", "8"));
        _overlay.Written(Pod("job", "8"), basedOn: Pod("job", "7"));

        Assert.Equal(0, _overlay.PendingCount);
        _cache.Upsert(Pod("job", "9"));
        Assert.Equal("9", _overlay.Get("default", "job")!.Metadata.ResourceVersion);
    }

    [Fact]
    public void A_create_whose_later_changes_the_watch_delivered_first_never_hides_them()
    {
        // The watch delivered the pod's ADDED (10) and a kubelet update (11) before the create's answer came back.
        _cache.Upsert(Pod("p0", "11"));
        _overlay.Written(Pod("p0", "10"));

        Assert.Equal("11", _overlay.Get("default", "p0")!.Metadata.ResourceVersion);
        Assert.Equal(["p0@11"], View());
        Assert.Equal(0, _overlay.PendingCount);
    }

    [Fact]
    public void Writes_on_top_of_a_pending_write_stay_in_force_until_the_cache_moves()
    {
        _cache.Upsert(Pod("job", "5"));
        var first = Pod("job", "6");
        _overlay.Written(first, basedOn: Pod("job", "5"));
        _overlay.Written(Pod("job", "7"), basedOn: first);

        Assert.Equal("7", _overlay.Get("default", "job")!.Metadata.ResourceVersion);
        _cache.Upsert(Pod("job", "7"));
        Assert.Equal("7", _overlay.Get("default", "job")!.Metadata.ResourceVersion);
        Assert.Equal(0, _overlay.PendingCount);
    }

    [Fact]
    public void A_deleted_object_is_reported_as_deleting_until_the_cache_drops_it()
    {
        _cache.Upsert(Pod("p0", "3"));
        _cache.Upsert(Pod("p1", "4"));
        _overlay.Deleted(Pod("p1", "4"));

        Assert.Null(_overlay.Get("default", "p1"));
        Assert.Equal(["p0@3", "p1@4-deleting"], View());

        _cache.Remove(Pod("p1", "5"));
        Assert.Equal(["p0@3"], View());
        Assert.Equal(0, _overlay.PendingCount);
    }

    [Fact]
    public void Apply_adds_only_the_pending_creations_of_the_group_asked_for()
    {
        _overlay.Written(Pod("mine", "1", labels: new Dictionary<string, string> { ["job"] = "a" }));
        _overlay.Written(Pod("theirs", "2", labels: new Dictionary<string, string> { ["job"] = "b" }));

        var view = _overlay.Apply([], "a");

        Assert.Equal(["mine"], view.Select(p => p.Object.Metadata.Name));
    }
}
