using System.Diagnostics;
using System.Text.RegularExpressions;
using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Authorization;

namespace Ferry.Operator.Tests.Helm;

/// <summary>
/// The chart installs: `helm template --include-crds` with each value set of <see cref="HelmOperateTests.ValueSets"/> is
/// applied by the real kubectl to the Kubernetes API emulator in its RBAC mode, as a cluster administrator would, and
/// every applied object is there afterwards; the TrainingJob CRD is served and the operator's ServiceAccount gets the
/// permissions the chart binds, where it binds them. A cluster that runs the Prometheus operator serves PrometheusRule
/// from its CRD, applied first.
/// </summary>
public sealed partial class ChartApplyTests
{
    private const string Kubectl = "/usr/bin/kubectl";

    [Theory]
    [MemberData(nameof(HelmOperateTests.ValueSets), MemberType = typeof(HelmOperateTests))]
    public async Task The_rendered_chart_applies_with_kubectl_and_every_object_exists(string name, string[] values)
    {
        var render = HelmChart.Template(["--include-crds", .. values]);
        Assert.True(render.ExitCode == 0, name + ": " + render.Stderr);
        var documents = DocumentSeparator().Split(render.Stdout)
            .Select(text => (Text: text, Parsed: HelmChart.ParseDocuments(text) is [var parsed] ? parsed : null))
            .Where(d => d.Parsed is not null && d.Parsed.ContainsKey("kind"))
            .Select(d => (d.Text, Parsed: d.Parsed!))
            .ToList();

        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { Authorization = AuthorizationMode.Rbac });
        var work = Directory.CreateTempSubdirectory("ferry-chart-apply-");
        try
        {
            var cache = Path.Combine(work.FullName, "kube-cache");
            string[] admin = ["--kubeconfig", api.KubeconfigPath, "--cache-dir", cache];

            // Namespaces come first (the release's, and those the values name), as `helm install --create-namespace` and the cluster's owners provide.
            var namespaces = documents.Select(d => d.Parsed.Map("metadata").TryGetValue("namespace", out var ns) ? (string)ns : null)
                .OfType<string>().Append("ferry-system").Distinct().Where(ns => ns != "default").ToList();
            foreach (var ns in namespaces)
            {
                var created = await RunAsync([.. admin, "create", "namespace", ns]);
                Assert.True(created.ExitCode == 0, $"{name}: kubectl create namespace {ns}: {created.Stderr}");
            }

            if (documents.Any(d => d.Parsed.Str("apiVersion").StartsWith("monitoring.coreos.com/", StringComparison.Ordinal)))
            {
                var crd = await RunAsync([.. admin, "apply", "-f", Path.Combine(HelmChart.RepoRoot, "tests", "Operator.Tests", "Helm", "ClusterCrds", "monitoring.coreos.com_prometheusrules.yaml")]);
                Assert.True(crd.ExitCode == 0, $"{name}: the PrometheusRule CRD: {crd.Stderr}");
            }

            // The whole chart is applied: every kind it renders must be served.
            var served = await ServedKindsAsync(admin);
            var notServed = documents.Select(d => Kind(d.Parsed)).Where(k => !served.Contains(k)).Distinct().ToList();
            Assert.True(notServed.Count == 0, $"{name}: the emulator serves none of [{string.Join(", ", notServed)}]");
            var applied = documents;
            var file = Path.Combine(work.FullName, "chart.yaml");
            await File.WriteAllTextAsync(file, string.Join("\n---\n", applied.Select(d => d.Text)));

            var apply = await RunAsync([.. admin, "apply", "-f", file]);
            Assert.True(apply.ExitCode == 0, $"{name}: kubectl apply: {apply.Stderr}\n{apply.Stdout}");
            Assert.Equal(applied.Count, apply.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.EndsWith(" created", StringComparison.Ordinal)));

            var get = await RunAsync([.. admin, "get", "-f", file, "-o", "name"]);
            Assert.True(get.ExitCode == 0, $"{name}: kubectl get -f: {get.Stderr}");
            var names = get.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(applied.Count, names.Length);
            foreach (var expected in new[] { "customresourcedefinition.apiextensions.k8s.io/trainingjobs.ferry.dev", "serviceaccount/ferry", "clusterrole.rbac.authorization.k8s.io/ferry" })
            {
                Assert.Contains(expected, names);
            }

            Assert.Contains(names, n => n.StartsWith("service/", StringComparison.Ordinal));
            Assert.Contains(names, n => n.StartsWith("deployment.apps/", StringComparison.Ordinal));
            foreach (var (kind, resource) in new[] { ("PodDisruptionBudget", "poddisruptionbudget.policy/"), ("NetworkPolicy", "networkpolicy.networking.k8s.io/") })
            {
                Assert.Equal(documents.Count(d => d.Parsed.Str("kind") == kind), names.Count(n => n.StartsWith(resource, StringComparison.Ordinal)));
            }
            Assert.Contains(names, n => n.StartsWith("clusterrolebinding.rbac.authorization.k8s.io/", StringComparison.Ordinal)
                || n.StartsWith("rolebinding.rbac.authorization.k8s.io/", StringComparison.Ordinal));
            foreach (var kind in new[] { "PrometheusRule", "ConfigMap" })
            {
                Assert.Equal(documents.Count(d => d.Parsed.Str("kind") == kind), names.Count(n => n.StartsWith(kind.ToLowerInvariant() + ".", StringComparison.Ordinal) || n.StartsWith(kind.ToLowerInvariant() + "/", StringComparison.Ordinal)));
            }

            // The CRD is served: TrainingJobs can be listed by their short name.
            var list = await RunAsync([.. admin, "get", "tj", "-A"]);
            Assert.True(list.ExitCode == 0, $"{name}: kubectl get tj: {list.Stderr}");

            // The operator's ServiceAccount has the chart's permissions where the chart binds them, and no others.
            var serviceAccount = api.WriteServiceAccountKubeconfig(Path.Combine(work.FullName, "sa.kubeconfig"), "ferry-system", "ferry");
            var watched = values.SkipWhile(v => !v.StartsWith("watchNamespaces=", StringComparison.Ordinal)).FirstOrDefault()?["watchNamespaces=".Length..].Trim('{', '}').Split(',');
            foreach (var (ns, allowed) in watched is null ? [("default", true), ("team-z", true)] : watched.Select(ns => (ns, true)).Append(("default", false)))
            {
                var canI = await RunAsync(["--kubeconfig", serviceAccount, "--cache-dir", cache, "auth", "can-i", "create", "pods", "-n", ns]);
                Assert.True(canI.Stdout.Trim() == (allowed ? "yes" : "no"), $"{name}: can the operator create pods in {ns}? {canI.Stdout}{canI.Stderr}");
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static string Kind(Dictionary<object, object> document) => $"{document.Str("apiVersion")} {document.Str("kind")}";

    /// <summary>The kinds the API server serves, as "group/version Kind" (from kubectl's discovery).</summary>
    private static async Task<HashSet<string>> ServedKindsAsync(string[] admin)
    {
        var resources = await RunAsync([.. admin, "api-resources", "--no-headers", "-o", "wide"]);
        Assert.True(resources.ExitCode == 0, "kubectl api-resources: " + resources.Stderr);
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in resources.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS ...
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var namespaced = Array.FindIndex(fields, f => f is "true" or "false");
            if (namespaced >= 2)
            {
                kinds.Add($"{fields[namespaced - 1]} {fields[namespaced + 1]}");
            }
        }

        return kinds;
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var start = new ProcessStartInfo(Kubectl) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [GeneratedRegex(@"^---\s*$", RegexOptions.Multiline)]
    private static partial Regex DocumentSeparator();
}
