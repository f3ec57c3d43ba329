using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using k8s.Models;
using static Ferry.Operator.Tests.Runtime.Support.Pods;

namespace Ferry.Operator.Tests.Runtime.Informers;

public sealed class InformerCacheTests
{
    private static V1OwnerReference Controller(string uid) =>
        new() { ApiVersion = "ferry.dev/v1alpha1", Kind = "TrainingJob", Name = "job", Uid = uid, Controller = true };

    [Fact]
    public void Lists_by_namespace_and_label_selector()
    {
        var cache = new InformerCache<V1Pod>();
        cache.Upsert(Pod("a", "1", "ml", new Dictionary<string, string> { ["ferry.dev/job-name"] = "j1", ["tier"] = "gpu" }));
        cache.Upsert(Pod("b", "2", "ml", new Dictionary<string, string> { ["ferry.dev/job-name"] = "j2" }));
        cache.Upsert(Pod("c", "3", "other", new Dictionary<string, string> { ["ferry.dev/job-name"] = "j1" }));

        Assert.Equal(["a", "b"], cache.List("ml").Select(p => p.Metadata.Name).Order());
        Assert.Equal(["a", "c"], cache.List(null, "ferry.dev/job-name=j1").Select(p => p.Metadata.Name).Order());
        Assert.Equal(["a"], cache.List("ml", "ferry.dev/job-name in (j1,j3),tier").Select(p => p.Metadata.Name));
        Assert.True(cache.TryGet("other", "c", out var c));
        Assert.Equal("3", c.Metadata.ResourceVersion);
        Assert.False(cache.TryGet("ml", "c", out _));
    }

    [Fact]
    public void Indexes_follow_updates_and_removals()
    {
        var cache = new InformerCache<V1Pod>();
        cache.Upsert(Pod("before", "1", owner: Controller("u1")));
        cache.AddIndex(CacheIndexes.ByControllerOwnerUid, CacheIndexes.ControllerOwnerUid);
        cache.AddIndex("job", CacheIndexes.NamespacedLabel("ferry.dev/job-name"));
        cache.Upsert(Pod("p0", "2", owner: Controller("u1"), labels: new Dictionary<string, string> { ["ferry.dev/job-name"] = "j" }));
        cache.Upsert(Pod("p1", "3", owner: Controller("u2")));

        Assert.Equal(["before", "p0"], cache.ByIndex(CacheIndexes.ByControllerOwnerUid, "u1").Select(p => p.Metadata.Name).Order());
        Assert.Equal(["p0"], cache.ByIndex("job", "default/j").Select(p => p.Metadata.Name));

        cache.Upsert(Pod("p0", "4", owner: Controller("u2")));
        Assert.Equal(["before"], cache.ByIndex(CacheIndexes.ByControllerOwnerUid, "u1").Select(p => p.Metadata.Name));
        Assert.Equal(["p0", "p1"], cache.ByIndex(CacheIndexes.ByControllerOwnerUid, "u2").Select(p => p.Metadata.Name).Order());
        Assert.Empty(cache.ByIndex("job", "default/j"));

        cache.Remove(Pod("p1", "5"));
        Assert.Equal(["p0"], cache.ByIndex(CacheIndexes.ByControllerOwnerUid, "u2").Select(p => p.Metadata.Name));
        var error = Assert.Throws<ArgumentException>(() => cache.ByIndex("nope", "x"));
        Assert.Contains("AddIndex", error.Message);
    }

    [Fact]
    public void Replace_reports_adds_changes_and_deletes_within_its_namespace_only()
    {
        var cache = new InformerCache<V1Pod>();
        cache.Upsert(Pod("same", "1", "a"));
        cache.Upsert(Pod("changed", "2", "a"));
        cache.Upsert(Pod("removed", "3", "a"));
        cache.Upsert(Pod("elsewhere", "4", "b"));

        var result = cache.Replace("a", [Pod("same", "1", "a"), Pod("changed", "9", "a"), Pod("added", "10", "a")]);

        Assert.Equal(["added"], result.Added.Select(p => p.Metadata.Name));
        Assert.Equal(["changed"], result.Updated.Select(u => u.New.Metadata.Name));
        Assert.Equal(["removed"], result.Deleted.Select(p => p.Metadata.Name));
        Assert.True(cache.TryGet("b", "elsewhere", out _));
        Assert.Equal(4, cache.Count);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("app=web", true)]
    [InlineData("app==web", true)]
    [InlineData("app=db", false)]
    [InlineData("app!=db", true)]
    [InlineData("missing!=x", true)]
    [InlineData("tier", true)]
    [InlineData("!tier", false)]
    [InlineData("!missing", true)]
    [InlineData("app in (db, web)", true)]
    [InlineData("app notin (web)", false)]
    [InlineData("app=web,tier=gpu", true)]
    [InlineData("app=web,tier=cpu", false)]
    public void Label_selector_matches_like_the_api_server(string selector, bool matches)
    {
        var labels = new Dictionary<string, string> { ["app"] = "web", ["tier"] = "gpu" };
        Assert.Equal(matches, LabelSelector.Parse(selector).Matches(labels));
    }

    [Theory]
    [InlineData("app in web")]
    [InlineData("a,,b")]
    [InlineData("app = web = x (")]
    public void Malformed_label_selectors_are_refused_with_a_hint(string selector)
    {
        var error = Assert.Throws<FormatException>(() => LabelSelector.Parse(selector));
        Assert.Contains("selector", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
