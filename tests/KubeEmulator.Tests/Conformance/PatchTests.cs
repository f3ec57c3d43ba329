using System.Net;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Merge patch, JSON patch, strategic merge patch on pods/services, and server-side apply.</summary>
public sealed class PatchTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    private readonly Kubernetes _client = host.Client;

    public static TheoryData<string, string, string> MergePatches => new()
    {
        { "{\"data\":{\"b\":\"2\"}}", "a=1,b=2", "adds a key" },
        { "{\"data\":{\"a\":null}}", "", "null deletes" },
        { "{\"data\":{\"a\":\"9\"}}", "a=9", "replaces a value" },
    };

    [Theory]
    [MemberData(nameof(MergePatches))]
    public async Task Merge_patch(string patch, string expected, string why)
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "m" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, ns);
        var result = await _client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "m", ns);
        Assert.True(expected == string.Join(",", (result.Data ?? new Dictionary<string, string>()).OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}")), why);
    }

    public static TheoryData<string, string> JsonPatches => new()
    {
        { "[{\"op\":\"add\",\"path\":\"/data/b\",\"value\":\"2\"}]", "a=1,b=2" },
        { "[{\"op\":\"remove\",\"path\":\"/data/a\"}]", "" },
        { "[{\"op\":\"replace\",\"path\":\"/data/a\",\"value\":\"5\"}]", "a=5" },
        { "[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"1\"},{\"op\":\"copy\",\"from\":\"/data/a\",\"path\":\"/data/c\"}]", "a=1,c=1" },
        { "[{\"op\":\"move\",\"from\":\"/data/a\",\"path\":\"/data/z\"}]", "z=1" },
    };

    [Theory]
    [MemberData(nameof(JsonPatches))]
    public async Task Json_patch(string patch, string expected)
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "j" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, ns);
        var result = await _client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.JsonPatch), "j", ns);
        Assert.Equal(expected, string.Join(",", (result.Data ?? new Dictionary<string, string>()).OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}")));
    }

    [Fact]
    public async Task Failed_json_patch_test_is_invalid()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "j" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, ns);
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"2\"}]", V1Patch.PatchType.JsonPatch), "j", ns));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
    }

    [Fact]
    public async Task Strategic_merge_patch_merges_pod_lists_by_their_keys()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p", Finalizers = ["a"] },
            Spec = new V1PodSpec
            {
                InitContainers = [new V1Container { Name = "init", Image = "i:1" }],
                Containers =
                [
                    new V1Container
                    {
                        Name = "main",
                        Image = "m:1",
                        Env = [new V1EnvVar { Name = "A", Value = "1" }, new V1EnvVar { Name = "B", Value = "2" }],
                        Ports = [new V1ContainerPort { ContainerPort = 80 }],
                        VolumeMounts = [new V1VolumeMount { MountPath = "/data", Name = "data" }],
                    },
                    new V1Container { Name = "sidecar", Image = "s:1" },
                ],
                Volumes = [new V1Volume { Name = "data", EmptyDir = new V1EmptyDirVolumeSource() }],
            },
        }, ns);

        const string patch = """
            {"metadata":{"finalizers":["b"]},
             "spec":{"containers":[
               {"name":"main","image":"m:2","env":[{"name":"B","value":"20"},{"name":"C","value":"3"},{"name":"A","$patch":"delete"}],
                "ports":[{"containerPort":81}],"volumeMounts":[{"mountPath":"/cache","name":"cache"}]},
               {"name":"sidecar","$patch":"delete"}],
              "volumes":[{"name":"cache","emptyDir":{}}]}}
            """;
        var pod = await _client.CoreV1.PatchNamespacedPodAsync(new V1Patch(patch, V1Patch.PatchType.StrategicMergePatch), "p", ns);

        Assert.Equal(["a", "b"], pod.Metadata.Finalizers);
        Assert.Equal(["main"], pod.Spec.Containers.Select(c => c.Name));
        var main = pod.Spec.Containers[0];
        Assert.Equal("m:2", main.Image);
        Assert.Equal(["B=20", "C=3"], main.Env.Select(e => $"{e.Name}={e.Value}"));
        Assert.Equal([80, 81], main.Ports.Select(p => p.ContainerPort));
        Assert.Equal(["/data", "/cache"], main.VolumeMounts.Select(v => v.MountPath));
        Assert.Equal(["data", "cache"], pod.Spec.Volumes.Select(v => v.Name));
        Assert.Equal(["init"], pod.Spec.InitContainers.Select(c => c.Name));
    }

    [Fact]
    public async Task Strategic_merge_patch_on_service_ports_by_port_and_replace_directive()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "s", Labels = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" } },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80, Name = "http" }] },
        }, ns);
        var svc = await _client.CoreV1.PatchNamespacedServiceAsync(new V1Patch(
            "{\"metadata\":{\"labels\":{\"$patch\":\"replace\",\"c\":\"3\"}},\"spec\":{\"ports\":[{\"port\":80,\"name\":\"web\"},{\"port\":443,\"name\":\"https\"}]}}",
            V1Patch.PatchType.StrategicMergePatch), "s", ns);
        Assert.Equal(["c"], svc.Metadata.Labels.Keys);
        Assert.Equal(["web", "https"], svc.Spec.Ports.Select(p => p.Name));
    }

    [Fact]
    public async Task Strategic_merge_patch_is_refused_for_custom_resources()
    {
        var ns = await host.NewNamespaceAsync();
        await host.Client.CustomObjects.CreateNamespacedCustomObjectAsync(EmulatorHost.TrainingJob("smp"), "ferry.dev", "v1alpha1", ns, "trainingjobs");
        var (status, body, _) = await host.SendAsync(HttpMethod.Patch, $"apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/smp", "{\"spec\":{}}", "application/strategic-merge-patch+json");
        Assert.Equal(415, status);
        Assert.Equal("UnsupportedMediaType", (string?)body!["reason"]);
    }

    [Fact]
    public async Task Server_side_apply_creates_updates_prunes_and_detects_conflicts()
    {
        var ns = await host.NewNamespaceAsync();
        var path = $"api/v1/namespaces/{ns}/configmaps/cfg";
        const string first = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n  b: \"2\"\n";
        var (status, created, _) = await host.SendAsync(HttpMethod.Patch, path + "?fieldManager=tool-a", first, "application/apply-patch+yaml");
        Assert.Equal(201, status);
        Assert.Equal("2", (string?)created!["data"]!["b"]);
        var managers = created["metadata"]!["managedFields"]!.AsArray();
        Assert.Contains(managers, m => (string?)m!["manager"] == "tool-a" && (string?)m["operation"] == "Apply");

        // Dropping a field this manager applied removes it.
        var (_, updated, _) = await host.SendAsync(HttpMethod.Patch, path + "?fieldManager=tool-a", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n", "application/apply-patch+yaml");
        Assert.Null(updated!["data"]!["b"]);

        // Another manager changing an owned field conflicts unless forced.
        var (conflict, status409, _) = await host.SendAsync(HttpMethod.Patch, path + "?fieldManager=tool-b", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"5\"\n", "application/apply-patch+yaml");
        Assert.Equal(409, conflict);
        Assert.Equal("Apply failed with 1 conflict: conflict with \"tool-a\" using v1: .data.a", (string?)status409!["message"]);

        var (forced, taken, _) = await host.SendAsync(HttpMethod.Patch, path + "?fieldManager=tool-b&force=true", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"5\"\n", "application/apply-patch+yaml");
        Assert.Equal(200, forced);
        Assert.Equal("5", (string?)taken!["data"]!["a"]);
    }

    [Fact]
    public async Task Apply_without_field_manager_is_refused()
    {
        var ns = await host.NewNamespaceAsync();
        var (status, body, _) = await host.SendAsync(HttpMethod.Patch, $"api/v1/namespaces/{ns}/configmaps/x", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "application/apply-patch+yaml");
        Assert.Equal(422, status);
        Assert.Contains("fieldManager: Required value", (string?)body!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_patch_content_type_is_unsupported_media_type()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "u" } }, ns);
        var (status, _, _) = await host.SendAsync(HttpMethod.Patch, $"api/v1/namespaces/{ns}/configmaps/u", "{}", "text/plain");
        Assert.Equal(415, status);
        _ = JsonNode.Parse("{}");
    }

    [Fact]
    public async Task Managed_fields_set_to_one_empty_entry_are_cleared_and_an_empty_list_keeps_them()
    {
        var ns = await host.NewNamespaceAsync();
        await host.SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/configmaps", EmulatorHost.ConfigMap("mf").ToJsonString());

        var (_, kept, _) = await host.SendAsync(HttpMethod.Patch, $"/api/v1/namespaces/{ns}/configmaps/mf", """{"metadata":{"managedFields":[]}}""", "application/merge-patch+json");
        Assert.NotEmpty(kept!["metadata"]!["managedFields"]!.AsArray());

        var (status, cleared, _) = await host.SendAsync(HttpMethod.Patch, $"/api/v1/namespaces/{ns}/configmaps/mf", """{"metadata":{"managedFields":[{}]}}""", "application/merge-patch+json");
        Assert.Equal(200, status);
        Assert.Null(cleared!["metadata"]!["managedFields"]);
        Assert.Null(host.Api.GetObject("v1", "ConfigMap", ns, "mf")!["metadata"]!["managedFields"]);
    }
}
