using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Serialization;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Kubectl;

/// <summary>
/// The real kubectl against the emulator with the repository's CRD (config/crd) and samples (config/samples):
/// apply without --validate=false, printer columns, defaults, CEL refusals, server-side apply, delete waiting on a
/// finalizer, wait for a condition, and get -w.
/// </summary>
public sealed class KubectlTests(KubectlEnvironment env) : IClassFixture<KubectlEnvironment>
{
    private static readonly SemaphoreSlim Setup = new(1, 1);

    [Fact]
    public async Task Apply_crd_and_samples_then_get_shows_printer_columns_and_defaults()
    {
        await EnsureSamplesAsync();

        var (code, stdout, stderr) = await env.RunAsync("get", "tj");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^NAME\s+BACKEND\s+PHASE\s+REPLICAS\s+PROGRESS\s+ETA\s+DURATION\s+AGE", lines[0]);
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^fashion-mnist-local\s+Local\s+2\s+\d+s$"));

        // Defaults: the local sample sets no maxRetries and no cleanPodPolicy; the stored object has them.
        var manifest = YamlJson.Parse(await File.ReadAllTextAsync(Path.Combine(KubectlEnvironment.SamplesDir, "fashion-mnist-local.yaml")))!;
        Assert.Null(manifest["spec"]!["maxRetries"]);
        var (_, yaml, _) = await env.RunAsync("get", "tj", "fashion-mnist-local", "-o", "yaml");
        var stored = YamlJson.Parse(yaml)!;
        Assert.Equal(0L, (long)stored["spec"]!["maxRetries"]!);
        Assert.Equal(2L, (long)stored["spec"]!["resources"]!["replicas"]!);
        Assert.Equal("FullyReplicated", (string?)YamlJson.Parse((await env.RunAsync("get", "tj", "fashion-mnist-sagemaker", "-o", "yaml")).Stdout)!["spec"]!["inputs"]![1]!["distribution"]);
    }

    [Fact]
    public async Task Invalid_manifest_is_refused_with_the_cel_message()
    {
        await EnsureSamplesAsync();
        var file = Path.Combine(env.TempDir, "no-role.yaml");
        await File.WriteAllTextAsync(file, """
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: no-role
            spec:
              backend: SageMaker
              image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/t:1
              output:
                uri: s3://bucket/out
              resources:
                instanceType: ml.g5.xlarge
            """);
        var (code, _, stderr) = await env.RunAsync("apply", "-f", file);
        Assert.NotEqual(0, code);
        Assert.Contains("The TrainingJob \"no-role\" is invalid", stderr, StringComparison.Ordinal);
        Assert.Contains("spec.sageMaker.roleArn is required when spec.backend is SageMaker", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Editing_the_spec_of_a_created_job_is_refused_but_suspend_may_change()
    {
        await EnsureSamplesAsync();
        var sample = await File.ReadAllTextAsync(Path.Combine(KubectlEnvironment.SamplesDir, "fashion-mnist-incluster.yaml"));
        var edited = Path.Combine(env.TempDir, "edited.yaml");
        await File.WriteAllTextAsync(edited, sample.Replace("ghcr.io/ferry-dev/ferry-trainer:0.1.0", "ghcr.io/ferry-dev/ferry-trainer:9.9.9", StringComparison.Ordinal));
        var (code, _, stderr) = await env.RunAsync("apply", "-f", edited);
        Assert.NotEqual(0, code);
        Assert.Contains("spec is immutable once the TrainingJob is created", stderr, StringComparison.Ordinal);

        var (suspendCode, _, suspendErr) = await env.RunAsync("patch", "tj", "fashion-mnist", "--type=merge", "-p", "{\"spec\":{\"suspend\":true}}");
        Assert.True(suspendCode == 0, suspendErr);
    }

    [Fact]
    public async Task Server_side_apply_creates_and_updates()
    {
        await EnsureSamplesAsync();
        var sample = await File.ReadAllTextAsync(Path.Combine(KubectlEnvironment.SamplesDir, "fashion-mnist-local.yaml"));
        var file = Path.Combine(env.TempDir, "ssa.yaml");
        await File.WriteAllTextAsync(file, sample.Replace("name: fashion-mnist-local", "name: ssa-job", StringComparison.Ordinal));
        var (code, stdout, stderr) = await env.RunAsync("apply", "--server-side", "-f", file);
        Assert.True(code == 0, stderr);
        Assert.Contains("trainingjob.ferry.dev/ssa-job serverside-applied", stdout, StringComparison.Ordinal);

        await File.AppendAllTextAsync(file, "  suspend: true\n");
        (code, _, stderr) = await env.RunAsync("apply", "--server-side", "-f", file);
        Assert.True(code == 0, stderr);
        var job = env.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", "default", "ssa-job")!;
        Assert.True((bool)job["spec"]!["suspend"]!);
        Assert.Contains(job["metadata"]!["managedFields"]!.AsArray(), m => (string?)m!["manager"] == "kubectl" && (string?)m["operation"] == "Apply");
    }

    [Fact]
    public async Task Delete_waits_for_the_finalizer_and_returns_when_it_is_removed()
    {
        await EnsureSamplesAsync();
        await CreateJobAsync("deleteme");
        await env.Api.UpdateAsync("ferry.dev/v1alpha1", "TrainingJob", "default", "deleteme", o => o["metadata"]!["finalizers"] = new JsonArray("ferry.dev/cleanup"));

        using var kubectl = env.Start("delete", "tj", "deleteme", "--timeout=30s");
        await Eventually.ValueAsync(() => env.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", "default", "deleteme"),
            o => o["metadata"]!["deletionTimestamp"] is not null, "deletionTimestamp to be set");
        Assert.False(kubectl.HasExited);

        await env.Api.UpdateAsync("ferry.dev/v1alpha1", "TrainingJob", "default", "deleteme", o => o["metadata"]!["finalizers"] = new JsonArray());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await kubectl.WaitForExitAsync(cts.Token);
        Assert.Equal(0, kubectl.ExitCode);
        Assert.Contains("deleted", await kubectl.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
        Assert.Null(env.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", "default", "deleteme"));
    }

    [Fact]
    public async Task Wait_for_condition_complete_returns_when_status_says_so()
    {
        await EnsureSamplesAsync();
        await CreateJobAsync("waitme");
        using var kubectl = env.Start("wait", "--for=condition=Complete", "tj/waitme", "--timeout=30s");
        await Eventually.ValueAsync(() => (int?)env.Api.Store.OpenWatches, n => n > 0, "kubectl wait to watch");
        Assert.False(kubectl.HasExited);

        await env.Api.UpdateStatusAsync("ferry.dev/v1alpha1", "TrainingJob", "default", "waitme", o => o["status"] = new JsonObject
        {
            ["phase"] = "Succeeded",
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "Complete",
                ["status"] = "True",
                ["reason"] = "TrainingSucceeded",
                ["message"] = "training finished",
                ["lastTransitionTime"] = "2026-01-01T00:00:00Z",
                ["observedGeneration"] = 1,
            }),
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await kubectl.WaitForExitAsync(cts.Token);
        Assert.Equal(0, kubectl.ExitCode);
        Assert.Contains("condition met", await kubectl.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_watch_prints_each_change_as_it_happens()
    {
        await EnsureSamplesAsync();
        await CreateJobAsync("watchme");

        // kubectl get NAME -w prints the object it read, then watches from resourceVersion 0 and drops the watch's first
        // (synthetic ADDED) event. A change made before the watch is open arrives only inside that dropped event, so the
        // test changes the job only once the watch is registered. The delayed watch makes the old race certain.
        var watchesBefore = env.Api.Store.OpenWatches;
        env.Api.Faults.Add(new Faults.FaultRule { Verb = "watch", Resource = "trainingjobs", Kind = Faults.FaultKind.Latency, Delay = TimeSpan.FromSeconds(1), Times = 1 });
        using var kubectl = env.Start("get", "tj", "watchme", "-w");
        try
        {
            var header = await ReadLineAsync(kubectl);
            Assert.Matches(@"^NAME\s+BACKEND\s+PHASE", header);
            Assert.Matches(@"^watchme\s+Local\s+", await ReadLineAsync(kubectl));
            await Eventually.ValueAsync(() => (int?)env.Api.Store.OpenWatches, n => n > watchesBefore, "kubectl's watch to be open", TimeSpan.FromSeconds(20));

            await env.Api.UpdateStatusAsync("ferry.dev/v1alpha1", "TrainingJob", "default", "watchme", o => o["status"] = new JsonObject { ["phase"] = "Running" });
            Assert.Matches(@"^watchme\s+Local\s+Running\s+", await ReadLineAsync(kubectl));

            await env.Api.UpdateStatusAsync("ferry.dev/v1alpha1", "TrainingJob", "default", "watchme", o => o["status"] = new JsonObject { ["phase"] = "Succeeded", ["duration"] = "2m3s" });
            Assert.Matches(@"^watchme\s+Local\s+Succeeded\s+\d+\s+2m3s\s+", await ReadLineAsync(kubectl));
        }
        finally
        {
            kubectl.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Describe_shows_the_events_of_the_job_through_event_field_selectors_whichever_events_api_wrote_them()
    {
        await EnsureSamplesAsync();
        await CreateJobAsync("describeme");
        await CreateJobAsync("someoneelse");
        var job = env.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", "default", "describeme")!;
        var other = env.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", "default", "someoneelse")!;
        JsonObject Regarding(JsonObject o) => new()
        {
            ["apiVersion"] = "ferry.dev/v1alpha1",
            ["kind"] = "TrainingJob",
            ["name"] = (string?)o["metadata"]!["name"],
            ["namespace"] = "default",
            ["uid"] = (string?)o["metadata"]!["uid"],
        };
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        await env.Api.CreateAsync(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["name"] = "describeme.1", ["namespace"] = "default" },
            ["involvedObject"] = Regarding(job),
            ["reason"] = "Started",
            ["message"] = "attempt 1 started with 2 replicas",
            ["type"] = "Normal",
            ["source"] = new JsonObject { ["component"] = "ferry-operator" },
            ["firstTimestamp"] = now,
            ["lastTimestamp"] = now,
            ["count"] = 1,
        });
        await env.Api.CreateAsync(new JsonObject
        {
            ["apiVersion"] = "events.k8s.io/v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["name"] = "describeme.2", ["namespace"] = "default" },
            ["regarding"] = Regarding(job),
            ["reason"] = "ReplicaFailed",
            ["note"] = "replica 1 exited with code 3",
            ["type"] = "Warning",
            ["action"] = "Reconcile",
            ["eventTime"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", System.Globalization.CultureInfo.InvariantCulture),
            ["reportingController"] = "ferry.dev/operator",
            ["reportingInstance"] = "ferry-operator-0",
        });
        await env.Api.CreateAsync(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["name"] = "someoneelse.1", ["namespace"] = "default" },
            ["involvedObject"] = Regarding(other),
            ["reason"] = "NotMine",
            ["message"] = "belongs to another job",
            ["type"] = "Normal",
            ["firstTimestamp"] = now,
            ["lastTimestamp"] = now,
        });

        var (code, stdout, stderr) = await env.RunAsync("describe", "tj", "describeme");

        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("Events:  <none>", stdout, StringComparison.Ordinal);
        Assert.Matches(@"Normal\s+Started\s+.*attempt 1 started with 2 replicas", stdout);
        Assert.Matches(@"Warning\s+ReplicaFailed\s+.*replica 1 exited with code 3", stdout);
        Assert.DoesNotContain("NotMine", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_generators_that_send_protobuf_work_for_namespaces_and_configmaps()
    {
        var (code, _, stderr) = await env.RunAsync("create", "namespace", "generated");
        Assert.True(code == 0, stderr);
        (code, _, stderr) = await env.RunAsync("create", "configmap", "settings", "-n", "generated", "--from-literal=lr=0.05");
        Assert.True(code == 0, stderr);
        Assert.Equal("0.05", (string?)env.Api.GetObject("v1", "ConfigMap", "generated", "settings")!["data"]!["lr"]);
    }

    private static async Task<string> ReadLineAsync(System.Diagnostics.Process p)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        return await p.StandardOutput.ReadLineAsync(cts.Token) ?? throw new Xunit.Sdk.XunitException("kubectl ended its output");
    }

    private async Task CreateJobAsync(string name)
    {
        var sample = await File.ReadAllTextAsync(Path.Combine(KubectlEnvironment.SamplesDir, "fashion-mnist-local.yaml"));
        var job = YamlJson.Parse(sample)!.AsObject();
        job["metadata"]!["name"] = name;
        job["metadata"]!["namespace"] = "default";
        await env.Api.CreateAsync(job);
    }

    /// <summary>The first test to run applies the CRD and the samples with kubectl, exactly as a user would.</summary>
    private async Task EnsureSamplesAsync()
    {
        await Setup.WaitAsync();
        try
        {
            if (env.Api.Registry.Find("ferry.dev", "v1alpha1", "trainingjobs") is not null
                && env.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", "default", "fashion-mnist-local") is not null)
            {
                return;
            }

            Assert.True(File.Exists(Path.Combine(KubectlEnvironment.CrdDir, "ferry.dev_trainingjobs.yaml")), "config/crd/ferry.dev_trainingjobs.yaml is missing");
            var (code, stdout, stderr) = await env.RunAsync("apply", "-f", KubectlEnvironment.CrdDir);
            Assert.True(code == 0, stderr);
            Assert.Contains("customresourcedefinition.apiextensions.k8s.io/trainingjobs.ferry.dev created", stdout, StringComparison.Ordinal);

            (code, stdout, stderr) = await env.RunAsync("apply", "-f", KubectlEnvironment.SamplesDir);
            Assert.True(code == 0, $"{stdout}\n{stderr}");
            Assert.DoesNotContain("Warning", stderr, StringComparison.Ordinal);
            Assert.Contains("trainingjob.ferry.dev/fashion-mnist-local created", stdout, StringComparison.Ordinal);
        }
        finally
        {
            Setup.Release();
        }
    }
}
