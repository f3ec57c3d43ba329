using System.Text.RegularExpressions;
using Ferry.KubeEmulator.Serialization;

namespace Ferry.KubeEmulator.Tests.Kubectl;

/// <summary>
/// apps/v1 Deployments, policy/v1 PodDisruptionBudgets and networking.k8s.io/v1 NetworkPolicies through the real kubectl:
/// apply, get (the apiserver's columns), describe, the defaults and generation the apiserver sets, the validation it
/// refuses with, and unknown fields under kubectl's default <c>--validate=strict</c> (sent as <c>fieldValidation=Strict</c>).
/// </summary>
public sealed class WorkloadKindsKubectlTests(KubectlEnvironment env) : IClassFixture<KubectlEnvironment>
{
    private const string Manifests = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: default
        spec:
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
              - name: web
                image: nginx:1.27
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata:
          name: web
          namespace: default
        spec:
          maxUnavailable: 1
          selector:
            matchLabels: {app: web}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: web
          namespace: default
        spec:
          podSelector:
            matchLabels: {app: web}
          ingress:
          - ports:
            - port: 80
        """;

    [Fact]
    public async Task Apply_get_and_describe_work_with_the_apiservers_defaults_and_columns()
    {
        var file = Path.Combine(env.TempDir, "workloads.yaml");
        await File.WriteAllTextAsync(file, Manifests);
        var (code, stdout, stderr) = await env.RunAsync("apply", "-f", file);
        Assert.True(code == 0, stderr);
        Assert.Contains("deployment.apps/web created", stdout, StringComparison.Ordinal);
        Assert.Contains("poddisruptionbudget.policy/web created", stdout, StringComparison.Ordinal);
        Assert.Contains("networkpolicy.networking.k8s.io/web created", stdout, StringComparison.Ordinal);

        var get = await env.RunAsync("get", "deploy,pdb,netpol");
        Assert.True(get.ExitCode == 0, get.Stderr);
        Assert.Matches(@"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\ndeployment.apps/web\s+0/1\s+0\s+0\s+\d+s", get.Stdout);
        Assert.Matches(@"NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\npoddisruptionbudget.policy/web\s+N/A\s+1\s+0\s+\d+s", get.Stdout);
        Assert.Matches(@"NAME\s+POD-SELECTOR\s+AGE\nnetworkpolicy.networking.k8s.io/web\s+app=web\s+\d+s", get.Stdout);

        var deployment = YamlJson.Parse((await env.RunAsync("get", "deploy", "web", "-o", "yaml")).Stdout)!;
        Assert.Equal(1L, (long)deployment["metadata"]!["generation"]!);
        Assert.Equal(1L, (long)deployment["spec"]!["replicas"]!);
        Assert.Equal("25%", (string?)deployment["spec"]!["strategy"]!["rollingUpdate"]!["maxSurge"]);
        Assert.Equal(10L, (long)deployment["spec"]!["revisionHistoryLimit"]!);
        Assert.Equal(600L, (long)deployment["spec"]!["progressDeadlineSeconds"]!);
        Assert.Equal("Always", (string?)deployment["spec"]!["template"]!["spec"]!["restartPolicy"]);
        Assert.Equal("IfNotPresent", (string?)deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicy"]);
        var policy = YamlJson.Parse((await env.RunAsync("get", "netpol", "web", "-o", "yaml")).Stdout)!;
        Assert.Equal("[\"Ingress\"]", policy["spec"]!["policyTypes"]!.ToJsonString());
        Assert.Equal("TCP", (string?)policy["spec"]!["ingress"]![0]!["ports"]![0]!["protocol"]);

        foreach (var kind in new[] { "deployment", "pdb", "netpol" })
        {
            var describe = await env.RunAsync("describe", kind, "web");
            Assert.True(describe.ExitCode == 0, $"describe {kind}: {describe.Stderr}");
            Assert.Matches(@"Name:\s+web", describe.Stdout);
        }

        // Generation follows the spec (and a Deployment's annotations), not labels.
        Assert.Equal(0, (await env.RunAsync("label", "deploy", "web", "tier=front")).ExitCode);
        Assert.Equal(1L, (long)YamlJson.Parse((await env.RunAsync("get", "deploy", "web", "-o", "yaml")).Stdout)!["metadata"]!["generation"]!);
        Assert.Equal(0, (await env.RunAsync("patch", "deploy", "web", "-p", """{"spec":{"replicas":3}}""")).ExitCode);
        Assert.Equal(0, (await env.RunAsync("annotate", "deploy", "web", "note=x")).ExitCode);
        Assert.Equal(3L, (long)YamlJson.Parse((await env.RunAsync("get", "deploy", "web", "-o", "yaml")).Stdout)!["metadata"]!["generation"]!);
    }

    [Fact]
    public async Task A_deployment_whose_selector_does_not_match_its_template_is_refused()
    {
        var file = Path.Combine(env.TempDir, "bad-deployment.yaml");
        await File.WriteAllTextAsync(file, Manifests.Split("---")[0].Replace("name: web\n  namespace", "name: bad\n  namespace", StringComparison.Ordinal)
            .Replace("labels: {app: web}", "labels: {app: other}", StringComparison.Ordinal));
        var (code, _, stderr) = await env.RunAsync("apply", "-f", file);
        Assert.NotEqual(0, code);
        Assert.Contains("The Deployment \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kubectl_sends_strict_field_validation_so_an_unknown_field_is_refused_unless_validation_is_relaxed()
    {
        var file = Path.Combine(env.TempDir, "unknown-field.yaml");
        await File.WriteAllTextAsync(file, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: default\ndata: {k: v}\nfoo: bar\n");
        var strict = await env.RunAsync("apply", "-f", file);
        Assert.NotEqual(0, strict.ExitCode);
        Assert.Contains("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"foo\"", strict.Stderr, StringComparison.Ordinal);

        var warn = await env.RunAsync("apply", "--validate=warn", "-f", file);
        Assert.True(warn.ExitCode == 0, warn.Stderr);
        Assert.Contains("Warning: unknown field \"foo\"", warn.Stderr, StringComparison.Ordinal);
        var stored = await env.RunAsync("get", "cm", "extra", "-o", "json");
        Assert.DoesNotMatch(new Regex("\"foo\""), stored.Stdout);
    }
}
