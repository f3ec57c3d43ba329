using System.Net;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Store;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Finalizers, deletionTimestamp, propagation policies and owner-reference garbage collection.</summary>
public sealed class DeletionTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    private readonly Kubernetes _client = host.Client;

    [Fact]
    public async Task Finalizer_holds_the_object_with_a_deletion_timestamp_until_removed()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "f", Finalizers = ["ferry.dev/cleanup"] } }, ns);
        await _client.CoreV1.DeleteNamespacedConfigMapAsync("f", ns);

        var held = await _client.CoreV1.ReadNamespacedConfigMapAsync("f", ns);
        Assert.NotNull(held.Metadata.DeletionTimestamp);
        Assert.Equal(0, held.Metadata.DeletionGracePeriodSeconds);

        held.Metadata.Finalizers = ["ferry.dev/cleanup", "another"];
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReplaceNamespacedConfigMapAsync(held, "f", ns));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);

        var patch = new V1Patch("{\"metadata\":{\"finalizers\":null}}", V1Patch.PatchType.MergePatch);
        await _client.CoreV1.PatchNamespacedConfigMapAsync(patch, "f", ns);
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReadNamespacedConfigMapAsync("f", ns));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task Background_deletion_collects_dependents_in_the_same_namespace()
    {
        var ns = await host.NewNamespaceAsync();
        var owner = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "owner" } }, ns);
        await CreateDependentAsync(ns, "dep1", owner, block: false);
        await CreateDependentAsync(ns, "dep2", owner, block: false);

        await _client.CoreV1.DeleteNamespacedConfigMapAsync("owner", ns, propagationPolicy: "Background");

        Assert.Empty((await _client.CoreV1.ListNamespacedSecretAsync(ns)).Items);
    }

    [Fact]
    public async Task A_dependent_with_another_live_owner_is_kept_and_released()
    {
        var ns = await host.NewNamespaceAsync();
        var a = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" } }, ns);
        var b = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "b" } }, ns);
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "shared", OwnerReferences = [Ref(a, false), new V1OwnerReference { ApiVersion = "v1", Kind = "ConfigMap", Name = b.Metadata.Name, Uid = b.Metadata.Uid }] },
        }, ns);

        await _client.CoreV1.DeleteNamespacedConfigMapAsync("a", ns);
        var shared = await _client.CoreV1.ReadNamespacedSecretAsync("shared", ns);
        Assert.Equal(["b"], shared.Metadata.OwnerReferences.Select(o => o.Name));
    }

    [Fact]
    public async Task Orphan_deletion_keeps_dependents_and_strips_the_owner_reference()
    {
        var ns = await host.NewNamespaceAsync();
        var owner = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "owner" } }, ns);
        await CreateDependentAsync(ns, "dep", owner, block: false);

        await _client.CoreV1.DeleteNamespacedConfigMapAsync("owner", ns, propagationPolicy: "Orphan");

        Assert.Empty((await _client.CoreV1.ListNamespacedConfigMapAsync(ns)).Items);
        var dep = await _client.CoreV1.ReadNamespacedSecretAsync("dep", ns);
        Assert.Null(dep.Metadata.OwnerReferences);
    }

    [Fact]
    public async Task Foreground_deletion_waits_for_blocking_dependents()
    {
        var ns = await host.NewNamespaceAsync();
        var owner = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "owner" } }, ns);
        var blocking = await CreateDependentAsync(ns, "blocking", owner, block: true, finalizer: "ferry.dev/hold");
        await CreateDependentAsync(ns, "plain", owner, block: false);

        await _client.CoreV1.DeleteNamespacedConfigMapAsync("owner", ns, propagationPolicy: "Foreground");

        var waiting = await _client.CoreV1.ReadNamespacedConfigMapAsync("owner", ns);
        Assert.Contains("foregroundDeletion", waiting.Metadata.Finalizers);
        Assert.NotNull(waiting.Metadata.DeletionTimestamp);
        Assert.NotNull((await _client.CoreV1.ReadNamespacedSecretAsync("blocking", ns)).Metadata.DeletionTimestamp);
        await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReadNamespacedSecretAsync("plain", ns));

        await _client.CoreV1.PatchNamespacedSecretAsync(new V1Patch("{\"metadata\":{\"finalizers\":null}}", V1Patch.PatchType.MergePatch), "blocking", ns);

        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReadNamespacedConfigMapAsync("owner", ns));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
        _ = blocking;
    }

    [Fact]
    public async Task Delete_collection_removes_only_selected_objects()
    {
        var ns = await host.NewNamespaceAsync();
        foreach (var (name, app) in new[] { ("a", "x"), ("b", "x"), ("c", "y") })
        {
            await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["app"] = app } } }, ns);
        }

        await _client.CoreV1.DeleteCollectionNamespacedConfigMapAsync(ns, labelSelector: "app=x");
        Assert.Equal(["c"], (await _client.CoreV1.ListNamespacedConfigMapAsync(ns)).Items.Select(i => i.Metadata.Name));
    }

    [Fact]
    public async Task Deleting_a_namespace_deletes_its_contents()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x" } }, ns);
        await _client.CoreV1.DeleteNamespaceAsync(ns);
        Assert.Empty((await _client.CoreV1.ListNamespacedConfigMapAsync(ns)).Items);
        Assert.Null(host.Api.GetObject("v1", "Namespace", null, ns));
    }

    [Fact]
    public async Task Delete_precondition_on_uid_is_a_conflict_when_it_differs()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "p" } }, ns);
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.DeleteNamespacedConfigMapAsync("p", ns,
            new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = "not-the-uid" } }));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        Assert.Contains("Precondition failed: UID in precondition: not-the-uid", (string?)JsonNode.Parse(e.Response.Content)!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Emulator_api_delete_honours_propagation()
    {
        var ns = await host.NewNamespaceAsync();
        var owner = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "o" } }, ns);
        await CreateDependentAsync(ns, "d", owner, block: false);
        await host.Api.DeleteAsync("v1", "ConfigMap", ns, "o", PropagationPolicy.Orphan);
        Assert.NotNull(host.Api.GetObject("v1", "Secret", ns, "d"));
    }

    // The garbage collector classifies each owner reference by looking the owner up by kind, namespace and name and comparing
    // its uid (garbagecollector.go attemptToDeleteItem): with every owner absent the dependent is deleted; with some owner
    // present the dangling references are removed. https://kubernetes.io/docs/concepts/architecture/garbage-collection/
    [Fact]
    public async Task A_dependent_created_after_its_owner_was_deleted_is_collected()
    {
        var ns = await host.NewNamespaceAsync();
        var owner = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "gone" } }, ns);
        await _client.CoreV1.DeleteNamespacedConfigMapAsync("gone", ns);

        await CreateDependentAsync(ns, "late", owner, block: false);

        Assert.Null(host.Api.GetObject("v1", "Secret", ns, "late"));
    }

    [Fact]
    public async Task A_dependent_of_an_owner_recreated_under_the_same_name_with_a_new_uid_is_collected()
    {
        var ns = await host.NewNamespaceAsync();
        var first = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "o" } }, ns);
        await _client.CoreV1.DeleteNamespacedConfigMapAsync("o", ns);
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "o" } }, ns);

        await CreateDependentAsync(ns, "stale-owner", first, block: false);

        Assert.Null(host.Api.GetObject("v1", "Secret", ns, "stale-owner"));
        Assert.NotNull(host.Api.GetObject("v1", "ConfigMap", ns, "o"));
    }

    [Fact]
    public async Task A_dangling_owner_reference_beside_a_live_owner_is_removed_and_the_dependent_kept()
    {
        var ns = await host.NewNamespaceAsync();
        var live = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "live" } }, ns);
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = "half",
                OwnerReferences = [Ref(live, false), new V1OwnerReference { ApiVersion = "v1", Kind = "ConfigMap", Name = "never-existed", Uid = "11111111-2222-3333-4444-555555555555" }],
            },
        }, ns);

        var kept = await _client.CoreV1.ReadNamespacedSecretAsync("half", ns);
        Assert.Equal(live.Metadata.Uid, Assert.Single(kept.Metadata.OwnerReferences).Uid);
    }

    [Fact]
    public async Task An_owner_of_a_kind_the_server_does_not_serve_is_left_alone()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = "unknown-owner",
                OwnerReferences = [new V1OwnerReference { ApiVersion = "apps/v1", Kind = "StatefulSet", Name = "d", Uid = "11111111-2222-3333-4444-555555555555" }],
            },
        }, ns);
        Assert.NotNull(host.Api.GetObject("v1", "Secret", ns, "unknown-owner"));
    }

    [Theory]
    [InlineData("configmaps", false)]
    [InlineData("secrets", false)]
    [InlineData("trainingjobs", false)]
    [InlineData("services", true)]
    public async Task A_finished_delete_answers_the_object_only_for_kinds_whose_storage_returns_it(string plural, bool returnsObject)
    {
        var ns = await host.NewNamespaceAsync();
        var (path, body) = plural switch
        {
            "configmaps" => ($"/api/v1/namespaces/{ns}/configmaps", EmulatorHost.ConfigMap("x")),
            "secrets" => ($"/api/v1/namespaces/{ns}/secrets", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Secret", ["metadata"] = new JsonObject { ["name"] = "x" } }),
            "services" => ($"/api/v1/namespaces/{ns}/services", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Service", ["metadata"] = new JsonObject { ["name"] = "x" }, ["spec"] = new JsonObject { ["clusterIP"] = "None" } }),
            _ => ($"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs", EmulatorHost.TrainingJob("x")),
        };
        var (created, createdBody, _) = await host.SendAsync(HttpMethod.Post, path, body.ToJsonString());
        Assert.True(created == 201, createdBody?.ToJsonString());

        var (status, answer, _) = await host.SendAsync(HttpMethod.Delete, $"{path}/x");

        Assert.Equal(200, status);
        if (returnsObject)
        {
            Assert.Equal("x", (string?)answer!["metadata"]!["name"]);
        }
        else
        {
            Assert.Equal("Status", (string?)answer!["kind"]);
            Assert.Equal("Success", (string?)answer["status"]);
            Assert.Equal(plural, (string?)answer["details"]!["kind"]);
            Assert.Equal((string?)createdBody!["metadata"]!["uid"], (string?)answer["details"]!["uid"]);
        }
    }

    [Fact]
    public async Task A_delete_held_by_finalizers_answers_200_with_a_zero_grace_period_whatever_was_asked()
    {
        var ns = await host.NewNamespaceAsync();
        var body = EmulatorHost.ConfigMap("held");
        body["metadata"]!["finalizers"] = new JsonArray("ferry.dev/hold");
        await host.SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/configmaps", body.ToJsonString());

        var (status, answer, _) = await host.SendAsync(HttpMethod.Delete, $"/api/v1/namespaces/{ns}/configmaps/held", """{"gracePeriodSeconds":45}""");

        Assert.Equal(200, status);
        Assert.NotNull(answer!["metadata"]!["deletionTimestamp"]);
        Assert.Equal(0, (long)answer["metadata"]!["deletionGracePeriodSeconds"]!);
    }

    private async Task<V1Secret> CreateDependentAsync(string ns, string name, V1ConfigMap owner, bool block, string? finalizer = null) =>
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                OwnerReferences = [Ref(owner, block)],
                Finalizers = finalizer is null ? null : [finalizer],
            },
        }, ns);

    private static V1OwnerReference Ref(V1ConfigMap owner, bool block) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Name = owner.Metadata.Name,
        Uid = owner.Metadata.Uid,
        BlockOwnerDeletion = block,
        Controller = true,
    };
}
