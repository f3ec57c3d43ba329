using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>
/// ObjectMeta validation (apimachinery ValidateObjectMeta, applied to every kind), the name rule of each kind, and the
/// storage strategies' metadata rules: generation only where the strategy sets it, Namespace finalizer and name label,
/// Secret stringData, MicroTime precision.
/// </summary>
public sealed class MetadataValidationTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    public static TheoryData<string, string, string> InvalidMetadata => new()
    {
        { "labels", """{"bad key!":"v"}""", "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters" },
        { "labels", $$"""{"k":"{{new string('v', 64)}}"}""", "metadata.labels: Invalid value: \"" + new string('v', 64) + "\": must be no more than 63 characters" },
        { "labels", """{"k":"-starts-with-dash"}""", "metadata.labels: Invalid value: \"-starts-with-dash\": a valid label must be an empty string" },
        { "labels", """{"Not_A.Domain/k":"v"}""", "metadata.labels: Invalid value: \"Not_A.Domain/k\": prefix part a lowercase RFC 1123 subdomain" },
        { "finalizers", """["bad finalizer!"]""", "metadata.finalizers[0]: Invalid value: \"bad finalizer!\": name part must consist of alphanumeric characters" },
        { "annotations", $$"""{"a":"{{new string('x', 256 * 1024)}}"}""", "metadata.annotations: Too long: must have at most 262144 bytes" },
        { "ownerReferences", """[{"apiVersion":"v1","kind":"ConfigMap","name":"a","uid":"1","controller":true},{"apiVersion":"v1","kind":"ConfigMap","name":"b","uid":"2","controller":true}]""", "Only one reference can have Controller set to true. Found \"true\" in references for ConfigMap/a and ConfigMap/b" },
        { "ownerReferences", """[{"apiVersion":"v1","kind":"ConfigMap","name":"a"}]""", "metadata.ownerReferences[0].uid: Invalid value: \"\": uid must not be empty" },
    };

    [Theory]
    [MemberData(nameof(InvalidMetadata))]
    public async Task Invalid_metadata_is_refused_with_422_for_custom_resources_and_built_in_kinds(string field, string value, string expected)
    {
        var ns = await host.NewNamespaceAsync();
        foreach (var (path, body) in new[]
        {
            ($"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs", EmulatorHost.TrainingJob("m")),
            ($"/api/v1/namespaces/{ns}/configmaps", EmulatorHost.ConfigMap("m")),
        })
        {
            body["metadata"]![field] = JsonNode.Parse(value);
            var (status, answer, _) = await host.SendAsync(HttpMethod.Post, path, body.ToJsonString());
            Assert.True(status == 422, $"{path}: {status} {answer?.ToJsonString()[..Math.Min(300, answer.ToJsonString().Length)]}");
            Assert.Contains(expected, (string?)answer!["message"], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Valid_prefixed_labels_finalizers_and_one_controller_are_accepted()
    {
        var ns = await host.NewNamespaceAsync();
        var body = EmulatorHost.ConfigMap("ok");
        body["metadata"]!["labels"] = new JsonObject { ["ferry.dev/job-name"] = "a_b.c-1", ["empty"] = "" };
        body["metadata"]!["finalizers"] = new JsonArray("ferry.dev/cleanup", "kubernetes");
        var (status, answer, _) = await host.SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/configmaps", body.ToJsonString());
        Assert.True(status == 201, answer?.ToJsonString());
    }

    [Theory]
    [InlineData("services", "1st-service", "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character")]
    [InlineData("services", "svc.with.dots", "a DNS-1035 label")]
    [InlineData("namespaces", "ns.with.dots", "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")]
    public async Task Services_take_dns_1035_labels_and_namespaces_dns_1123_labels(string plural, string name, string expected)
    {
        var path = plural == "namespaces" ? "/api/v1/namespaces" : "/api/v1/namespaces/default/services";
        var body = new JsonObject { ["apiVersion"] = "v1", ["kind"] = plural == "namespaces" ? "Namespace" : "Service", ["metadata"] = new JsonObject { ["name"] = name } };
        var (status, answer, _) = await host.SendAsync(HttpMethod.Post, path, body.ToJsonString());
        Assert.Equal(422, status);
        Assert.Contains($"metadata.name: Invalid value: \"{name}\": {expected}", (string?)answer!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kinds_without_generation_semantics_carry_no_generation_while_custom_resources_do()
    {
        var ns = await host.NewNamespaceAsync();
        var cm = await host.Api.CreateAsync(WithNamespace(EmulatorHost.ConfigMap("g"), ns));
        Assert.Null(cm["metadata"]!["generation"]);
        var updated = await host.Api.UpdateAsync("v1", "ConfigMap", ns, "g", o => o["data"] = new JsonObject { ["k"] = "2" });
        Assert.Null(updated["metadata"]!["generation"]);
        var job = await host.Api.CreateAsync(WithNamespace(EmulatorHost.TrainingJob("g"), ns));
        Assert.Equal(1, (long)job["metadata"]!["generation"]!);
    }

    [Fact]
    public async Task New_namespaces_get_the_kubernetes_finalizer_and_their_name_label()
    {
        var ns = await host.NewNamespaceAsync();
        var (_, body, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{ns}");
        Assert.Equal("kubernetes", (string?)body!["spec"]!["finalizers"]![0]);
        Assert.Equal(ns, (string?)body["metadata"]!["labels"]!["kubernetes.io/metadata.name"]);
        var (_, selected, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces?labelSelector=kubernetes.io/metadata.name%3D{ns}");
        Assert.Single(selected!["items"]!.AsArray());
    }

    [Fact]
    public async Task Secret_string_data_is_merged_into_data_and_not_stored()
    {
        var ns = await host.NewNamespaceAsync();
        var secret = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = "s" },
            ["data"] = new JsonObject { ["a"] = "YQ==", ["b"] = "Yg==" },
            ["stringData"] = new JsonObject { ["b"] = "over", ["c"] = "plain" },
        };
        var (status, body, _) = await host.SendAsync(HttpMethod.Post, $"/api/v1/namespaces/{ns}/secrets", secret.ToJsonString());
        Assert.Equal(201, status);
        Assert.Null(body!["stringData"]);
        Assert.Equal("YQ==", (string?)body["data"]!["a"]);
        Assert.Equal("b3Zlcg==", (string?)body["data"]!["b"]);
        Assert.Equal("cGxhaW4=", (string?)body["data"]!["c"]);
    }

    [Theory]
    [InlineData("2026-01-02T03:04:05Z", 400)]
    [InlineData("2026-01-02T03:04:05.123Z", 400)]
    [InlineData("2026-01-02T03:04:05.123456Z", 201)]
    public async Task Lease_micro_times_need_exactly_six_fractional_digits(string renewTime, int expected)
    {
        var ns = await host.NewNamespaceAsync();
        var lease = new JsonObject
        {
            ["apiVersion"] = "coordination.k8s.io/v1",
            ["kind"] = "Lease",
            ["metadata"] = new JsonObject { ["name"] = "l" },
            ["spec"] = new JsonObject { ["holderIdentity"] = "a", ["renewTime"] = renewTime },
        };
        var (status, body, _) = await host.SendAsync(HttpMethod.Post, $"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", lease.ToJsonString());
        Assert.True(status == expected, body?.ToJsonString());
    }

    private static JsonObject WithNamespace(JsonObject o, string ns)
    {
        o["metadata"]!["namespace"] = ns;
        return o;
    }
}
