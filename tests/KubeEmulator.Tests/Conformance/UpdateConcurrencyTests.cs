using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>
/// Optimistic concurrency as the apiserver's generic registry store applies it (store.go Update and GuaranteedUpdate):
/// custom resources refuse unconditional updates, a PUT carries a uid precondition, and a patch without a
/// resourceVersion is re-applied to the latest object instead of failing.
/// </summary>
public sealed class UpdateConcurrencyTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    [Theory]
    [InlineData("")]
    [InlineData("/status")]
    public async Task Custom_resources_refuse_a_put_without_resource_version_because_their_strategy_disallows_unconditional_updates(string subresource)
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(WithNamespace(EmulatorHost.TrainingJob("j"), ns));
        var body = WithNamespace(EmulatorHost.TrainingJob("j", image: "trainer:2"), ns);

        var (status, answer, _) = await host.SendAsync(HttpMethod.Put, $"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j{subresource}", body.ToJsonString());

        Assert.Equal(422, status);
        Assert.Equal("Invalid", (string?)answer!["reason"]);
        Assert.Equal("trainingjobs.ferry.dev \"j\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update", (string?)answer["message"]);
        Assert.Equal("trainer:1", (string?)host.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", ns, "j")!["spec"]!["image"]);
    }

    [Fact]
    public async Task Built_in_kinds_still_allow_unconditional_updates()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(WithNamespace(EmulatorHost.ConfigMap("c"), ns));
        var (status, _, _) = await host.SendAsync(HttpMethod.Put, $"/api/v1/namespaces/{ns}/configmaps/c", WithNamespace(EmulatorHost.ConfigMap("c", data: new JsonObject { ["k"] = "2" }), ns).ToJsonString());
        Assert.Equal(200, status);
    }

    [Theory]
    [InlineData("configmaps", "/api/v1")]
    [InlineData("trainingjobs", "/apis/ferry.dev/v1alpha1")]
    public async Task A_put_whose_uid_differs_from_the_stored_object_fails_its_uid_precondition_with_409(string plural, string prefix)
    {
        var ns = await host.NewNamespaceAsync();
        var created = await host.Api.CreateAsync(WithNamespace(plural == "configmaps" ? EmulatorHost.ConfigMap("o") : EmulatorHost.TrainingJob("o"), ns));
        var body = created.DeepClone().AsObject();
        body["metadata"]!["uid"] = "00000000-0000-0000-0000-000000000001";

        var (status, answer, _) = await host.SendAsync(HttpMethod.Put, $"{prefix}/namespaces/{ns}/{plural}/o", body.ToJsonString());

        Assert.Equal(409, status);
        Assert.Equal("Conflict", (string?)answer!["reason"]);
        var qualified = plural == "configmaps" ? "configmaps" : "trainingjobs.ferry.dev";
        Assert.Equal($"Operation cannot be fulfilled on {qualified} \"o\": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000001, UID in object meta: {created["metadata"]!["uid"]}", (string?)answer["message"]);
    }

    [Fact]
    public async Task A_patch_that_changes_the_uid_is_refused_because_uid_is_immutable()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(WithNamespace(EmulatorHost.ConfigMap("p"), ns));
        var (status, answer, _) = await host.SendAsync(HttpMethod.Patch, $"/api/v1/namespaces/{ns}/configmaps/p", """{"metadata":{"uid":"other"}}""", "application/merge-patch+json");
        Assert.Equal(422, status);
        Assert.Contains("metadata.uid: Invalid value: \"other\": field is immutable", (string?)answer!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_patches_without_resource_version_never_conflict_they_are_reapplied_to_the_latest_object()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(WithNamespace(EmulatorHost.TrainingJob("c"), ns));
        const int writers = 24;
        var results = await Task.WhenAll(Enumerable.Range(0, writers).Select(i => Task.Run(() =>
            host.SendAsync(HttpMethod.Patch, $"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/c",
                $"{{\"metadata\":{{\"labels\":{{\"w{i}\":\"x\"}}}}}}", "application/merge-patch+json"))));

        Assert.All(results, r => Assert.Equal(200, r.Status));
        var labels = host.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", ns, "c")!["metadata"]!["labels"]!.AsObject();
        Assert.Equal(writers, labels.Count);
    }

    [Fact]
    public async Task A_patch_carrying_a_resource_version_still_conflicts_when_another_write_got_in_between()
    {
        var ns = await host.NewNamespaceAsync();
        var created = await host.Api.CreateAsync(WithNamespace(EmulatorHost.ConfigMap("s"), ns));
        var rv = (string)created["metadata"]!["resourceVersion"]!;
        await host.SendAsync(HttpMethod.Patch, $"/api/v1/namespaces/{ns}/configmaps/s", """{"data":{"a":"1"}}""", "application/merge-patch+json");

        var (status, _, _) = await host.SendAsync(HttpMethod.Patch, $"/api/v1/namespaces/{ns}/configmaps/s",
            $"{{\"metadata\":{{\"resourceVersion\":\"{rv}\"}},\"data\":{{\"a\":\"2\"}}}}", "application/merge-patch+json");
        Assert.Equal(409, status);
    }

    private static JsonObject WithNamespace(JsonObject o, string ns)
    {
        o["metadata"]!["namespace"] = ns;
        return o;
    }
}
