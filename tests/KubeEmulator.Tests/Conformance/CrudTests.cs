using System.Net;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Create/read/update/delete, system metadata and optimistic concurrency, through KubernetesClient.</summary>
public sealed class CrudTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    private readonly Kubernetes _client = host.Client;

    [Fact]
    public async Task Create_sets_uid_creation_timestamp_generation_and_resource_version()
    {
        var ns = await host.NewNamespaceAsync();
        var created = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" }, Data = new Dictionary<string, string> { ["x"] = "1" } }, ns);

        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.Equal(host.Time.GetUtcNow().UtcDateTime, created.Metadata.CreationTimestamp);
        Assert.Null(created.Metadata.Generation); // ConfigMaps have no generation semantics (only custom resources and CRDs do here).
        Assert.True(long.Parse(created.Metadata.ResourceVersion) > 0);
        Assert.Equal(ns, created.Metadata.NamespaceProperty);
        Assert.NotEmpty(created.Metadata.ManagedFields);

        var read = await _client.CoreV1.ReadNamespacedConfigMapAsync("a", ns);
        Assert.Equal(created.Metadata.Uid, read.Metadata.Uid);
        Assert.Equal("1", read.Data["x"]);
    }

    [Fact]
    public async Task Generate_name_appends_five_random_characters()
    {
        var ns = await host.NewNamespaceAsync();
        var created = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { GenerateName = "job-" } }, ns);
        Assert.Matches("^job-[a-z0-9]{5}$", created.Metadata.Name);
    }

    [Fact]
    public async Task Every_write_bumps_one_global_resource_version()
    {
        var ns = await host.NewNamespaceAsync();
        var a = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" } }, ns);
        var b = await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "b" } }, ns);
        a.Data = new Dictionary<string, string> { ["k"] = "v" };
        var a2 = await _client.CoreV1.ReplaceNamespacedConfigMapAsync(a, "a", ns);

        var rvs = new[] { a.Metadata.ResourceVersion, b.Metadata.ResourceVersion, a2.Metadata.ResourceVersion }.Select(long.Parse).ToArray();
        Assert.True(rvs[0] < rvs[1] && rvs[1] < rvs[2], string.Join(",", rvs));
        var list = await _client.CoreV1.ListNamespacedConfigMapAsync(ns);
        Assert.Equal(host.Api.Store.ResourceVersion.ToString(), list.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Update_with_stale_resource_version_is_a_409_conflict_with_a_status_body()
    {
        var ns = await host.NewNamespaceAsync();
        var first = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" } }, ns);
        var stale = first.Metadata.ResourceVersion;
        first.Data = new Dictionary<string, string> { ["a"] = "1" };
        await _client.CoreV1.ReplaceNamespacedConfigMapAsync(first, "c", ns);

        first.Metadata.ResourceVersion = stale;
        first.Data["a"] = "2";
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReplaceNamespacedConfigMapAsync(first, "c", ns));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        var status = JsonNode.Parse(e.Response.Content)!;
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("Conflict", (string?)status["reason"]);
        Assert.Equal(409, (int)status["code"]!);
        Assert.Equal("Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again", (string?)status["message"]);

        // A patch carrying the stale resourceVersion is refused the same way.
        var patch = new V1Patch($"{{\"metadata\":{{\"resourceVersion\":\"{stale}\"}},\"data\":{{\"a\":\"3\"}}}}", V1Patch.PatchType.MergePatch);
        var pe = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.PatchNamespacedConfigMapAsync(patch, "c", ns));
        Assert.Equal(HttpStatusCode.Conflict, pe.Response.StatusCode);
    }

    [Fact]
    public async Task Unconditional_update_without_resource_version_succeeds()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "u" } }, ns);
        var updated = await _client.CoreV1.ReplaceNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "u" }, Data = new Dictionary<string, string> { ["z"] = "1" } }, "u", ns);
        Assert.Equal("1", updated.Data["z"]);
    }

    [Fact]
    public async Task No_op_update_does_not_bump_resource_version()
    {
        var ns = await host.NewNamespaceAsync();
        var created = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "n" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, ns);
        var same = await _client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "n", ns);
        Assert.Equal(created.Metadata.ResourceVersion, same.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Namespaced_create_into_a_missing_namespace_is_not_found()
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x" } }, "does-not-exist"));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
        Assert.Equal("namespaces \"does-not-exist\" not found", (string?)JsonNode.Parse(e.Response.Content)!["message"]);
    }

    [Fact]
    public async Task Leases_and_events_are_served()
    {
        var ns = await host.NewNamespaceAsync();
        var lease = await _client.CoordinationV1.CreateNamespacedLeaseAsync(new V1Lease
        {
            Metadata = new V1ObjectMeta { Name = "leader" },
            Spec = new V1LeaseSpec { HolderIdentity = "a", LeaseDurationSeconds = 15 },
        }, ns);
        Assert.Equal("a", lease.Spec.HolderIdentity);

        var ev = await _client.EventsV1.CreateNamespacedEventAsync(new Eventsv1Event
        {
            Metadata = new V1ObjectMeta { Name = "e1" },
            // A MicroTime with a fraction: KubernetesClient writes whole seconds without one, which the apiserver refuses.
            EventTime = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(1_234_560),
            Reason = "Started",
            Action = "Start",
            ReportingController = "ferry.dev/operator",
            ReportingInstance = "op-1",
            Type = "Normal",
            Regarding = new V1ObjectReference { Kind = "TrainingJob", Name = "j", NamespaceProperty = ns },
        }, ns);
        Assert.Equal("Started", ev.Reason);

        var core = await _client.CoreV1.CreateNamespacedEventAsync(new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = "e2" },
            InvolvedObject = new V1ObjectReference { Kind = "Pod", Name = "p", NamespaceProperty = ns },
            Reason = "Scheduled",
        }, ns);
        Assert.Equal("Scheduled", core.Reason);
        // core/v1 and events.k8s.io/v1 Events are one resource: both events are listed through either version.
        Assert.Equal(2, (await _client.CoreV1.ListNamespacedEventAsync(ns)).Items.Count);
        Assert.Equal(2, (await _client.EventsV1.ListNamespacedEventAsync(ns)).Items.Count);
    }

    [Fact]
    public async Task Services_get_a_cluster_ip_and_port_defaults_while_headless_stays_none()
    {
        var ns = await host.NewNamespaceAsync();
        var svc = await _client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "s" },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80 }] },
        }, ns);
        Assert.Matches(@"^10\.96\.\d+\.\d+$", svc.Spec.ClusterIP);
        Assert.Equal("TCP", svc.Spec.Ports[0].Protocol);
        Assert.Equal("80", svc.Spec.Ports[0].TargetPort.Value);

        var headless = await _client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "h" },
            Spec = new V1ServiceSpec { ClusterIP = "None", Selector = new Dictionary<string, string> { ["a"] = "b" } },
        }, ns);
        Assert.Equal("None", headless.Spec.ClusterIP);
    }

    [Fact]
    public async Task Pods_start_pending_and_ignore_status_on_create()
    {
        var ns = await host.NewNamespaceAsync();
        var pod = await _client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p" },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "main", Image = "img:1" }] },
            Status = new V1PodStatus { Phase = "Running" },
        }, ns);
        Assert.Equal("Pending", pod.Status.Phase);
        Assert.Equal("Always", pod.Spec.RestartPolicy);
        Assert.Equal("IfNotPresent", pod.Spec.Containers[0].ImagePullPolicy);
    }
}
