using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>
/// Events as the apiserver stores them (one resource served as core/v1 and events.k8s.io/v1) and the field selectors each
/// kind supports (the field label conversions registered in pkg/apis/core/v1/conversion.go and pkg/apis/events/v1).
/// </summary>
public sealed class EventAndFieldSelectorTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    [Fact]
    public async Task A_core_event_is_seen_through_events_k8s_io_v1_and_the_reverse_because_both_versions_share_one_store()
    {
        var ns = await host.NewNamespaceAsync();
        var (status, _, _) = await host.SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/events", CoreEvent("core-1", ns, "TrainingJob", "j", "Started", "Normal").ToJsonString());
        Assert.Equal(201, status);
        (status, var created, _) = await host.SendAsync(HttpMethod.Post, $"/apis/events.k8s.io/v1/namespaces/{ns}/events", new JsonObject
        {
            ["apiVersion"] = "events.k8s.io/v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["name"] = "new-1" },
            ["eventTime"] = "2026-01-02T03:04:05.000000Z",
            ["reason"] = "Failed",
            ["note"] = "replica 0 exited 1",
            ["type"] = "Warning",
            ["action"] = "Reconcile",
            ["reportingController"] = "ferry.dev/operator",
            ["reportingInstance"] = "op-1",
            ["regarding"] = new JsonObject { ["kind"] = "TrainingJob", ["name"] = "j", ["namespace"] = ns, ["apiVersion"] = "ferry.dev/v1alpha1" },
        }.ToJsonString());
        Assert.Equal(201, status);
        Assert.Equal("replica 0 exited 1", (string?)created!["note"]);

        var (_, coreList, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{ns}/events");
        var (_, newList, _) = await host.SendAsync(HttpMethod.Get, $"/apis/events.k8s.io/v1/namespaces/{ns}/events");
        Assert.Equal(2, coreList!["items"]!.AsArray().Count);
        Assert.Equal(2, newList!["items"]!.AsArray().Count);

        var (_, asCore, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{ns}/events/new-1");
        Assert.Equal("v1", (string?)asCore!["apiVersion"]);
        Assert.Equal("replica 0 exited 1", (string?)asCore["message"]);
        Assert.Equal("TrainingJob", (string?)asCore["involvedObject"]!["kind"]);
        Assert.Equal("ferry.dev/operator", (string?)asCore["reportingComponent"]);

        var (_, asNew, _) = await host.SendAsync(HttpMethod.Get, $"/apis/events.k8s.io/v1/namespaces/{ns}/events/core-1");
        Assert.Equal("events.k8s.io/v1", (string?)asNew!["apiVersion"]);
        Assert.Equal("j", (string?)asNew["regarding"]!["name"]);
        Assert.Equal("job started", (string?)asNew["note"]);
        Assert.Equal("ferry", (string?)asNew["deprecatedSource"]!["component"]);
        Assert.Equal(3, (int?)asNew["deprecatedCount"]);
    }

    [Fact]
    public async Task Core_event_field_selectors_on_involved_object_reason_type_and_source_select_as_kubectl_describe_asks()
    {
        var ns = await host.NewNamespaceAsync();
        await Post(CoreEvent("a", ns, "TrainingJob", "j", "Started", "Normal"), ns);
        await Post(CoreEvent("b", ns, "TrainingJob", "other", "Started", "Normal"), ns);
        await Post(CoreEvent("c", ns, "Pod", "j", "Failed", "Warning"), ns);

        Assert.Equal(["a"], await Names($"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.kind%3DTrainingJob,involvedObject.name%3Dj,involvedObject.namespace%3D{ns}"));
        Assert.Equal(["c"], await Names($"/api/v1/namespaces/{ns}/events?fieldSelector=type%3DWarning"));
        Assert.Equal(["a", "b"], await Names($"/api/v1/namespaces/{ns}/events?fieldSelector=reason%3DStarted,source%3Dferry"));
        Assert.Equal(["a", "b"], await Names($"/apis/events.k8s.io/v1/namespaces/{ns}/events?fieldSelector=regarding.kind%3DTrainingJob,reportingController%3Dferry.dev/operator"));
        var (_, one, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{ns}/events/a");
        var uid = (string)one!["involvedObject"]!["uid"]!;
        Assert.Equal(["a"], await Names($"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.uid%3D{uid}"));
    }

    [Theory]
    [InlineData("pods", "spec.restartPolicy=Never")]
    [InlineData("pods", "spec.schedulerName=default-scheduler")]
    [InlineData("pods", "spec.serviceAccountName=default")]
    [InlineData("pods", "status.podIP=10.0.0.1")]
    [InlineData("pods", "status.nominatedNodeName=n")]
    [InlineData("pods", "spec.hostNetwork=false")]
    [InlineData("secrets", "type=Opaque")]
    [InlineData("services", "spec.clusterIP=None")]
    [InlineData("services", "spec.type=ClusterIP")]
    public async Task Kind_specific_selectable_fields_are_accepted(string plural, string selector)
    {
        var ns = await host.NewNamespaceAsync();
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{ns}/{plural}?fieldSelector={Uri.EscapeDataString(selector)}");
        Assert.True(status == 200, body?.ToJsonString());
    }

    [Theory]
    [InlineData("/api/v1/namespaces/default/configmaps", "status.phase")]
    [InlineData("/api/v1/namespaces/default/configmaps", "spec.nodeName")]
    [InlineData("/api/v1/namespaces/default/secrets", "status.phase")]
    [InlineData("/apis/ferry.dev/v1alpha1/namespaces/default/trainingjobs", "status.phase")]
    [InlineData("/apis/ferry.dev/v1alpha1/namespaces/default/trainingjobs", "spec.image")]
    [InlineData("/apis/events.k8s.io/v1/namespaces/default/events", "involvedObject.name")]
    public async Task A_field_the_kind_does_not_declare_selectable_is_a_400(string path, string field)
    {
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, $"{path}?fieldSelector={field}%3Dx");
        Assert.Equal(400, status);
        Assert.Equal("BadRequest", (string?)body!["reason"]);
        Assert.Equal($"field label not supported: {field}", (string?)body["message"]);
    }

    [Fact]
    public async Task Pods_are_selected_by_their_restart_policy_and_service_account()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Api.CreateAsync(Pod("a", ns, "Never", "trainer"));
        await host.Api.CreateAsync(Pod("b", ns, "Always", "default"));
        Assert.Equal(["a"], await Names($"/api/v1/namespaces/{ns}/pods?fieldSelector=spec.restartPolicy%3DNever"));
        Assert.Equal(["b"], await Names($"/api/v1/namespaces/{ns}/pods?fieldSelector=spec.serviceAccountName!%3Dtrainer"));
    }

    [Fact]
    public async Task A_crd_versions_selectable_fields_are_accepted_as_field_selectors()
    {
        // https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#crd-selectable-fields
        await host.Api.CreateAsync(JsonNode.Parse("""
            {"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.dev"},
             "spec":{"group":"example.dev","scope":"Namespaced","names":{"kind":"Widget","plural":"widgets","singular":"widget","listKind":"WidgetList"},
              "versions":[{"name":"v1","served":true,"storage":true,"selectableFields":[{"jsonPath":".spec.color"}],
                "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"color":{"type":"string"},"size":{"type":"string"}}}}}}}]}}
            """)!.AsObject());
        var ns = await host.NewNamespaceAsync();
        foreach (var (name, color) in new[] { ("a", "red"), ("b", "blue") })
        {
            await host.Api.CreateAsync(new JsonObject
            {
                ["apiVersion"] = "example.dev/v1",
                ["kind"] = "Widget",
                ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
                ["spec"] = new JsonObject { ["color"] = color, ["size"] = "m" },
            });
        }

        Assert.Equal(["a"], await Names($"/apis/example.dev/v1/namespaces/{ns}/widgets?fieldSelector=spec.color%3Dred"));
        Assert.Equal(["b"], await Names($"/apis/example.dev/v1/namespaces/{ns}/widgets?fieldSelector=spec.color!%3Dred"));
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, $"/apis/example.dev/v1/namespaces/{ns}/widgets?fieldSelector=spec.size%3Dm");
        Assert.Equal(400, status);
        Assert.Equal("field label not supported: spec.size", (string?)body!["message"]);
    }

    private static JsonObject Pod(string name, string ns, string restartPolicy, string serviceAccount) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Pod",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        ["spec"] = new JsonObject
        {
            ["restartPolicy"] = restartPolicy,
            ["serviceAccountName"] = serviceAccount,
            ["containers"] = new JsonArray(new JsonObject { ["name"] = "main", ["image"] = "img:1" }),
        },
    };

    private static JsonObject CoreEvent(string name, string ns, string kind, string objectName, string reason, string type) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Event",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        ["involvedObject"] = new JsonObject { ["kind"] = kind, ["name"] = objectName, ["namespace"] = ns, ["uid"] = $"uid-{name}" },
        ["reason"] = reason,
        ["message"] = "job started",
        ["type"] = type,
        ["count"] = 3,
        ["source"] = new JsonObject { ["component"] = "ferry" },
        ["reportingComponent"] = "ferry.dev/operator",
        ["firstTimestamp"] = "2026-01-02T03:04:05Z",
        ["lastTimestamp"] = "2026-01-02T03:04:05Z",
    };

    private async Task Post(JsonObject ev, string ns)
    {
        var (status, body, _) = await host.SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/events", ev.ToJsonString());
        Assert.True(status == 201, body?.ToJsonString());
    }

    private async Task<string[]> Names(string path)
    {
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, path);
        Assert.True(status == 200, body?.ToJsonString());
        return body!["items"]!.AsArray().Select(i => (string)i!["metadata"]!["name"]!).Order(StringComparer.Ordinal).ToArray();
    }
}
