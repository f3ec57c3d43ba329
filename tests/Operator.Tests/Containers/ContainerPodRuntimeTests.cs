using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Kubelet;

namespace Ferry.Operator.Tests.Containers;

/// <summary>The container kubelet's pure parts, which need no container engine: `$(VAR)` expansion and the pods' /etc/hosts.</summary>
public sealed class ContainerPodRuntimeTests
{
    private static readonly Dictionary<string, string> Defined = new() { ["WHO"] = "world", ["EMPTY"] = "" };

    [Theory]
    [InlineData("hello-$(WHO)", "hello-world")]
    [InlineData("$(WHO)$(WHO)", "worldworld")]
    [InlineData("[$(EMPTY)]", "[]")]
    [InlineData("$$(WHO)", "$(WHO)")]
    [InlineData("$(UNDEFINED) stays", "$(UNDEFINED) stays")]
    [InlineData("$(cat /scratch/a)", "$(cat /scratch/a)")]
    [InlineData("unclosed $(WHO", "unclosed $(WHO")]
    [InlineData("ends with $", "ends with $")]
    [InlineData("$ENV{POD_IP} and $1", "$ENV{POD_IP} and $1")]
    public void Variable_references_expand_as_a_kubelet_expands_them(string value, string expected) =>
        Assert.Equal(expected, ContainerPodRuntime.Expand(value, Defined));

    [Fact]
    public void A_pod_resolves_the_pods_of_its_headless_service_by_their_names_and_the_short_names_of_its_search_list()
    {
        var me = Pod("job-1", "uid-2", "algo-2", "job", "127.0.0.2", searches: ["job.default.svc.cluster.local"]);
        var pods = new[]
        {
            me,
            Pod("job-0", "uid-1", "algo-1", "job", "127.0.0.1"),
            Pod("job-2", "uid-3", "algo-3", "job", ip: null),
            Pod("other-0", "uid-4", "algo-1", "other", "127.0.0.4"),
            Pod("job-old", "uid-5", "algo-9", "job", "127.0.0.5", deleting: true),
        };

        var hosts = ContainerPodRuntime.EtcHosts(me, pods, [HeadlessService("job"), HeadlessService("other")], "cluster.local");

        Assert.Equal("""
            # Kubernetes-managed hosts file (the emulator's container kubelet).
            127.0.0.1	localhost
            ::1	localhost ip6-localhost ip6-loopback
            127.0.0.2	algo-2.job.default.svc.cluster.local	algo-2
            127.0.0.1	algo-1.job.default.svc.cluster.local algo-1 algo-1.job algo-1.job.default algo-1.job.default.svc
            127.0.0.2	algo-2.job.default.svc.cluster.local algo-2 algo-2.job algo-2.job.default algo-2.job.default.svc

            """.Replace("\r\n", "\n", StringComparison.Ordinal), hosts);
    }

    [Fact]
    public void Without_a_headless_service_a_pod_knows_only_its_own_names()
    {
        var me = Pod("job-1", "uid-2", "algo-2", "job", "127.0.0.2");
        var pods = new[] { me, Pod("job-0", "uid-1", "algo-1", "job", "127.0.0.1") };
        var clusterIp = HeadlessService("job");
        clusterIp["spec"]!["clusterIP"] = "10.96.0.10";

        var hosts = ContainerPodRuntime.EtcHosts(me, pods, [clusterIp], "cluster.local");

        Assert.EndsWith("127.0.0.2\talgo-2.job.default.svc.cluster.local\talgo-2\n", hosts, StringComparison.Ordinal);
        Assert.DoesNotContain("algo-1", hosts, StringComparison.Ordinal);
    }

    private static JsonObject Pod(string name, string uid, string hostname, string subdomain, string? ip, string[]? searches = null, bool deleting = false)
    {
        var pod = new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default", ["uid"] = uid },
            ["spec"] = new JsonObject { ["hostname"] = hostname, ["subdomain"] = subdomain },
            ["status"] = ip is null ? new JsonObject() : new JsonObject { ["podIP"] = ip },
        };
        if (searches is not null)
        {
            pod["spec"]!["dnsConfig"] = new JsonObject { ["searches"] = new JsonArray([.. searches.Select(s => (JsonNode)s)]) };
        }

        if (deleting)
        {
            pod["metadata"]!["deletionTimestamp"] = "2026-01-02T03:04:05Z";
        }

        return pod;
    }

    private static JsonObject HeadlessService(string name) => new()
    {
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default" },
        ["spec"] = new JsonObject { ["clusterIP"] = "None" },
    };
}
