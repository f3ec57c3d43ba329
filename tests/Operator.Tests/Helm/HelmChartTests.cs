using System.Text;
using Ferry.Operator.Hosting;
using Microsoft.Extensions.Configuration;

namespace Ferry.Operator.Tests.Helm;

public sealed class HelmChartTests
{
    private static readonly string SnapshotPath = Path.Combine(HelmChart.RepoRoot, "tests", "Operator.Tests", "Helm", "Snapshots", "default.yaml");

    [Fact]
    public void Chart_passes_helm_lint_strict_with_default_and_custom_values()
    {
        var plain = HelmChart.Run("lint", "--strict", HelmChart.ChartDir);
        Assert.True(plain.ExitCode == 0, plain.Stdout + plain.Stderr);

        var custom = HelmChart.Run("lint", "--strict", HelmChart.ChartDir,
            "--set", "watchNamespaces={team-a,team-b}", "--set", "replicaCount=1", "--set", "leaderElection.enabled=false");
        Assert.True(custom.ExitCode == 0, custom.Stdout + custom.Stderr);
    }

    [Fact]
    public void Default_render_is_a_hardened_two_replica_deployment_with_probes_on_health_endpoints()
    {
        var docs = HelmChart.Render();
        Assert.Equal(
            ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"],
            docs.Select(d => d.Str("kind")).Order());

        var deployment = docs.Single("Deployment");
        var spec = deployment.Map("spec");
        Assert.Equal("2", spec["replicas"]);
        var pod = spec.Map("template").Map("spec");
        Assert.Equal("ferry", pod.Str("serviceAccountName"));
        Assert.Equal("true", pod.Map("securityContext")["runAsNonRoot"]);
        var container = (Dictionary<object, object>)Assert.Single(pod.Seq("containers"));
        Assert.Equal("ghcr.io/ferry-dev/ferry-operator:0.1.0", container.Str("image"));
        Assert.Equal(["operator"], container.Seq("args").Cast<string>());
        Assert.Equal("/healthz", container.Map("livenessProbe").Map("httpGet").Str("path"));
        Assert.Equal("/readyz", container.Map("readinessProbe").Map("httpGet").Str("path"));
        var security = container.Map("securityContext");
        Assert.Equal("true", security["readOnlyRootFilesystem"]);
        Assert.Equal("false", security["allowPrivilegeEscalation"]);
        Assert.Equal(["ALL"], security.Map("capabilities").Seq("drop").Cast<string>());
        var env = container.Seq("env").Cast<Dictionary<object, object>>().ToDictionary(e => e.Str("name"));
        Assert.Equal("/etc/ferry/operator.json", env["FERRY_CONFIG_FILE"].Str("value"));
        Assert.Equal("metadata.name", env["POD_NAME"].Map("valueFrom").Map("fieldRef").Str("fieldPath"));
        Assert.Equal("metadata.namespace", env["POD_NAMESPACE"].Map("valueFrom").Map("fieldRef").Str("fieldPath"));

        var service = docs.Single("Service");
        var port = (Dictionary<object, object>)Assert.Single(service.Map("spec").Seq("ports"));
        Assert.Equal("8080", port["port"]);
        Assert.Equal("http-metrics", port.Str("targetPort"));
        Assert.Empty(docs.OfKind("ServiceMonitor"));
    }

    [Fact]
    public void Rbac_is_least_privilege_and_bound_cluster_wide_when_watching_every_namespace()
    {
        var docs = HelmChart.Render();
        var rules = docs.Single("ClusterRole").Seq("rules").Cast<Dictionary<object, object>>().ToList();
        var granted = rules
            .SelectMany(r => r.Seq("resources").Cast<string>().SelectMany(res => r.Seq("verbs").Cast<string>().Select(v => $"{res}:{v}")))
            .ToHashSet();

        Assert.DoesNotContain(rules, r => r.Seq("verbs").Contains("*") || r.Seq("resources").Contains("*") || r.Seq("apiGroups").Contains("*"));
        // Exactly what the operator uses: OperatorRbacTests shows each one is needed and the set is enough.
        Assert.Equal(new HashSet<string>
        {
            "trainingjobs:list", "trainingjobs:watch", "trainingjobs:patch", "trainingjobs:delete", "trainingjobs/status:update",
            "trainingjobs/finalizers:update", "pods:list", "pods:watch", "pods:create", "pods:delete",
            "services:get", "services:list", "services:watch", "services:create", "services:delete", "events:create", "events:patch",
        }, granted);

        var binding = docs.Single("ClusterRoleBinding");
        var subject = (Dictionary<object, object>)Assert.Single(binding.Seq("subjects"));
        Assert.Equal("ferry", subject.Str("name"));
        Assert.Equal("ferry-system", subject.Str("namespace"));

        var leaseRole = docs.Single("Role");
        Assert.Equal("ferry-system", leaseRole.Map("metadata").Str("namespace"));
        Assert.All(leaseRole.Seq("rules").Cast<Dictionary<object, object>>(), r => Assert.Equal(["leases"], r.Seq("resources").Cast<string>()));
    }

    [Fact]
    public void Custom_values_bind_only_watched_namespaces_and_reach_the_operator_configuration()
    {
        var docs = HelmChart.Render(
            "--set", "watchNamespaces={team-a,team-b}",
            "--set", "replicaCount=3",
            "--set", "maxConcurrentReconciles=8",
            "--set", "kubeApi.qps=50",
            "--set", "kubeApi.burst=80",
            "--set", "logFormat=simple",
            "--set", "image.tag=1.2.3",
            "--set", "inCluster.spot.tolerations[0].key=spot",
            "--set", "inCluster.spot.tolerations[0].operator=Exists",
            "--set", "sageMaker.allowedRoles.team-a[0]=arn:aws:iam::123456789012:role/team-a",
            "--set", "s3.endpoint=http://minio.storage:9000",
            "--set", "s3.forcePathStyle=true");

        Assert.Empty(docs.OfKind("ClusterRoleBinding"));
        var jobBindings = docs.OfKind("RoleBinding").Where(b => b.Map("roleRef").Str("kind") == "ClusterRole").ToList();
        Assert.Equal(["team-a", "team-b"], jobBindings.Select(b => b.Map("metadata").Str("namespace")).Order());
        Assert.Equal("3", docs.Single("Deployment").Map("spec")["replicas"]);
        var container = (Dictionary<object, object>)docs.Single("Deployment").Map("spec").Map("template").Map("spec").Seq("containers")[0];
        Assert.Equal("ghcr.io/ferry-dev/ferry-operator:1.2.3", container.Str("image"));

        var config = OperatorJson(docs);
        var options = new OperatorOptions();
        config.GetSection(OperatorOptions.Section).Bind(options);
        Assert.Empty(options.Validate());
        Assert.Equal(["team-a", "team-b"], options.Namespaces);
        Assert.Equal(8, options.MaxConcurrentReconciles);
        Assert.Equal(50, options.Qps);
        Assert.Equal(80, options.Burst);
        Assert.Equal("simple", options.LogFormat);
        Assert.Equal("ferry-system", options.LeaderElection.LeaseNamespace);
        Assert.Equal("ghcr.io/ferry-dev/ferry-operator:1.2.3", config["InCluster:AgentImage"]);
        Assert.Equal("spot", config["InCluster:SpotTolerations:0:key"]);
        Assert.Equal("spot", config["InCluster:SpotNodeSelector:karpenter.sh/capacity-type"]);
        Assert.Equal("arn:aws:iam::123456789012:role/team-a", config["SageMaker:AllowedRoles:team-a:0"]);
        Assert.Equal("http://minio.storage:9000", config["S3:Endpoint"]);
        Assert.Equal("True", config["S3:ForcePathStyle"], ignoreCase: true);
    }

    [Fact]
    public void Chart_configuration_reaches_the_in_cluster_backend_settings()
    {
        var config = OperatorJson(HelmChart.Render(
            "--set", "inCluster.spot.tolerations[0].key=spot",
            "--set", "inCluster.spot.tolerations[0].operator=Exists",
            "--set", "inCluster.spot.tolerations[0].effect=NoSchedule",
            "--set", "inCluster.agentImage=registry.local/ferry:dev",
            "--set", "s3.endpoint=http://minio.storage:9000"));

        var options = Ferry.Operator.Reconciliation.TrainingJobControllerSetup.ReadOptions(config);

        Assert.Equal("registry.local/ferry:dev", options.AgentImage);
        Assert.Equal("spot", options.SpotNodeSelector["karpenter.sh/capacity-type"]);
        var toleration = Assert.Single(options.SpotTolerations);
        Assert.Equal(("spot", "Exists", "NoSchedule"), (toleration.Key, toleration.OperatorProperty, toleration.Effect));
        Assert.Contains("http://minio.storage:9000", options.AgentEnvironment.Values);
    }

    [Fact]
    public void Default_configuration_binds_to_valid_operator_options()
    {
        var options = new OperatorOptions();
        OperatorJson(HelmChart.Render()).GetSection(OperatorOptions.Section).Bind(options);

        Assert.Empty(options.Validate());
        Assert.Empty(options.Namespaces);
        Assert.True(options.LeaderElection.Enabled);
        Assert.Equal("ferry-operator", options.LeaderElection.LeaseName);
        Assert.Equal("json", options.LogFormat);
        Assert.Equal(8080, options.Port);
    }

    [Fact]
    public void ServiceMonitor_is_rendered_only_when_enabled_and_its_api_exists()
    {
        var withApi = HelmChart.Render("--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom",
            "--api-versions", "monitoring.coreos.com/v1");
        var monitor = withApi.Single("ServiceMonitor");
        Assert.Equal("prom", monitor.Map("metadata").Map("labels").Str("release"));
        var endpoint = (Dictionary<object, object>)Assert.Single(monitor.Map("spec").Seq("endpoints"));
        Assert.Equal("http-metrics", endpoint.Str("port"));
        Assert.Equal("/metrics", endpoint.Str("path"));

        Assert.Empty(HelmChart.Render("--set", "serviceMonitor.enabled=true").OfKind("ServiceMonitor"));
        Assert.Empty(HelmChart.Render("--api-versions", "monitoring.coreos.com/v1").OfKind("ServiceMonitor"));
    }

    [Fact]
    public void Several_replicas_without_leader_election_are_refused_with_the_fix()
    {
        var result = HelmChart.Template("--set", "leaderElection.enabled=false");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("leaderElection.enabled=true", result.Stderr);
        Assert.Contains("replicaCount=1", result.Stderr);

        var single = HelmChart.Render("--set", "leaderElection.enabled=false", "--set", "replicaCount=1");
        Assert.Empty(single.OfKind("Role"));
    }

    [Fact]
    public void Crds_folder_ships_the_TrainingJob_definition()
    {
        var docs = HelmChart.Render("--include-crds");
        var crd = docs.Single("CustomResourceDefinition");
        Assert.Equal("trainingjobs.ferry.dev", crd.Map("metadata").Str("name"));
        Assert.Equal("ferry.dev", crd.Map("spec").Str("group"));
    }

    [Fact]
    public void Default_render_matches_the_committed_snapshot()
    {
        var result = HelmChart.Template();
        Assert.True(result.ExitCode == 0, result.Stderr);
        var rendered = result.Stdout.ReplaceLineEndings("\n");
        if (Environment.GetEnvironmentVariable("UPDATE_SNAPSHOTS") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(SnapshotPath)!);
            File.WriteAllText(SnapshotPath, rendered);
        }

        Assert.True(File.Exists(SnapshotPath), $"No snapshot at {SnapshotPath}; run the tests with UPDATE_SNAPSHOTS=1 to create it.");
        var expected = File.ReadAllText(SnapshotPath).ReplaceLineEndings("\n");
        Assert.True(expected == rendered,
            "The default render differs from tests/Operator.Tests/Helm/Snapshots/default.yaml; review the change and rerun with UPDATE_SNAPSHOTS=1.\n"
            + FirstDifference(expected, rendered));
    }

    private static IConfiguration OperatorJson(List<Dictionary<object, object>> docs)
    {
        var json = docs.Single("ConfigMap").Map("data").Str("operator.json");
        return new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
    }

    private static string FirstDifference(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        for (var i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            var left = i < e.Length ? e[i] : "<end>";
            var right = i < a.Length ? a[i] : "<end>";
            if (left != right)
            {
                return $"line {i + 1}: expected '{left}' but rendered '{right}'";
            }
        }

        return "";
    }
}
