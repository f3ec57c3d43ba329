using System.Text.Json;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Tests.Helm;

/// <summary>The chart's production switches: every rendered object is a valid Kubernetes object, and the schema refuses mistyped values.</summary>
public sealed class HelmOperateTests
{
    public static TheoryData<string, string[]> ValueSets => new()
    {
        { "default", [] },
        { "namespaced, single replica", ["--set", "watchNamespaces={team-a,team-b}", "--set", "replicaCount=1", "--set", "leaderElection.enabled=false"] },
        { "network policies", ["--set", "networkPolicy.enabled=true", "--set", "networkPolicy.trainingPods.enabled=true", "--set", "watchNamespaces={team-a}",
            "--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring"] },
        { "dashboard and alerts", ["--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring", "--set", "prometheusRule.enabled=true",
            "--set", "prometheusRule.labels.release=prom", "--set", "logFormat=simple"] },
        { "spot, IRSA, agent image", ["--set", "inCluster.spot.tolerations[0].key=spot", "--set", "inCluster.spot.tolerations[0].operator=Exists",
            "--set", "inCluster.agentImage=registry.local/ferry:dev", "--set", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/ferry",
            "--set", "sageMaker.region=eu-west-1", "--set", "resources.limits.memory=1Gi", "--set", "podDisruptionBudget.maxUnavailable=0"] },
    };

    [Theory]
    [MemberData(nameof(ValueSets))]
    public void Every_rendered_object_deserialises_strictly_into_the_Kubernetes_model_types(string name, string[] values)
    {
        var result = HelmChart.Template(values);
        Assert.True(result.ExitCode == 0, name + ": " + result.Stderr);
        // The monitoring.coreos.com kinds have no KubernetesClient model; promtool checks the rules they carry.
        var documents = result.Stdout.Split("\n---", StringSplitOptions.RemoveEmptyEntries)
            .Where(d => d.Contains("kind:", StringComparison.Ordinal) && !d.Contains("apiVersion: monitoring.coreos.com/", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(documents);
        foreach (var document in documents)
        {
            var loaded = Assert.Single(KubernetesYaml.LoadAllFromString(document, strict: true));
            Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(loaded);
        }
    }

    [Fact]
    public void Dashboard_and_rules_are_off_by_default_and_carry_the_shipped_files_when_on()
    {
        var defaults = HelmChart.Render();
        Assert.Empty(defaults.OfKind("PrometheusRule"));
        Assert.DoesNotContain(defaults.OfKind("ConfigMap"), c => c.Map("metadata").Str("name").EndsWith("-dashboard", StringComparison.Ordinal));

        var on = HelmChart.Render("--set", "grafanaDashboard.enabled=true", "--set", "prometheusRule.enabled=true");
        var rule = on.Single("PrometheusRule");
        Assert.Equal(["ferry.trainingjobs", "ferry.operator"], rule.Map("spec").Seq("groups").Select(g => g.Str("name")));
        var dashboard = on.OfKind("ConfigMap").Single(c => c.Map("metadata").Str("name").EndsWith("-dashboard", StringComparison.Ordinal));
        Assert.Equal("1", dashboard.Map("metadata").Map("labels").Str("grafana_dashboard"));
        var json = JsonDocument.Parse(dashboard.Map("data").Str("ferry.json")).RootElement;
        Assert.Equal("ferry-operator", json.GetProperty("uid").GetString());
    }

    [Fact]
    public void Pod_disruption_budget_needs_two_replicas_and_training_pod_policy_one_per_watched_namespace()
    {
        Assert.Equal("1", HelmChart.Render().Single("PodDisruptionBudget").Map("spec")["maxUnavailable"]);
        Assert.Empty(HelmChart.Render("--set", "replicaCount=1", "--set", "leaderElection.enabled=false").OfKind("PodDisruptionBudget"));

        var policies = HelmChart.Render("--set", "networkPolicy.enabled=true", "--set", "networkPolicy.trainingPods.enabled=true", "--set", "watchNamespaces={team-a,team-b}")
            .OfKind("NetworkPolicy").ToList();
        Assert.Equal(3, policies.Count);
        Assert.Equal(["ferry-system", "team-a", "team-b"], policies.Select(p => p.Map("metadata").Str("namespace")).Order());
    }

    [Fact]
    public void Network_policies_let_the_operator_poll_rank_0_for_live_metrics_on_the_configured_port()
    {
        var docs = HelmChart.Render("--set", "networkPolicy.enabled=true", "--set", "networkPolicy.trainingPods.enabled=true",
            "--set", "watchNamespaces={team-a}", "--set", "inCluster.liveMetricsPort=9555");
        var policies = docs.OfKind("NetworkPolicy").ToList();
        static IEnumerable<string> Ports(Dictionary<object, object> policy, string direction) =>
            policy.Map("spec").Seq(direction).Cast<Dictionary<object, object>>()
                .SelectMany(rule => rule.TryGetValue("ports", out var ports) ? ((List<object>)ports).Cast<Dictionary<object, object>>() : [])
                .Select(port => port.Str("port"));

        var operatorPolicy = policies.Single(p => p.Map("metadata").Str("namespace") == "ferry-system");
        Assert.Contains("9555", Ports(operatorPolicy, "egress"));

        // The training pods admit the operator's pods (from the release namespace) on that port.
        var training = policies.Single(p => p.Map("metadata").Str("namespace") == "team-a");
        var rule = training.Map("spec").Seq("ingress").Cast<Dictionary<object, object>>()
            .Single(r => r.TryGetValue("ports", out var ports) && ((List<object>)ports).Cast<Dictionary<object, object>>().Any(p => p.Str("port") == "9555"));
        var from = (Dictionary<object, object>)Assert.Single(rule.Seq("from"));
        Assert.Equal("ferry-system", from.Map("namespaceSelector").Map("matchLabels").Str("kubernetes.io/metadata.name"));
        Assert.Equal("ferry", from.Map("podSelector").Map("matchLabels").Str("app.kubernetes.io/name"));

        // The operator polls the port the policies open.
        var config = docs.Single("ConfigMap").Map("data").Str("operator.json");
        Assert.Equal(9555, System.Text.Json.Nodes.JsonNode.Parse(config)!["InCluster"]!["LiveMetricsPort"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("logFormt=json", "additional properties 'logFormt' not allowed")]
    [InlineData("replicaCount=two", "/replicaCount")]
    [InlineData("logFormat=xml", "/logFormat")]
    [InlineData("metrics.port=70000", "/metrics/port")]
    [InlineData("networkPolicy.trainingPods.enable=true", "'enable' not allowed")]
    public void A_mistyped_value_fails_with_the_field_named(string value, string expected)
    {
        var result = HelmChart.Template("--set", value);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Sagemaker_section_accepts_keys_added_later()
    {
        var result = HelmChart.Template("--set", "sageMaker.pollIntervalSeconds=30", "--set", "sageMaker.region=us-west-2");
        Assert.True(result.ExitCode == 0, result.Stderr);
    }
}
