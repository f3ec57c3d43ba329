using System.Diagnostics;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Operate;

/// <summary>
/// The Argo CD health check (deploy/argocd/trainingjob-health.lua) run by Debian's Lua 5.4 with lua-cjson, as Argo CD
/// runs it (the resource as the global <c>obj</c>), on statuses the reconciler itself produced in every phase it reaches.
/// </summary>
public sealed class ArgoCdHealthCheckTests
{
    private static readonly string Script = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(OperatorHarness.CrdPath)!, "..", "..", "deploy", "argocd", "trainingjob-health.lua"));

    private readonly FakeTimeProvider _time = new(T0);
    private readonly InMemoryTrainingJobStore _store;
    private readonly FakeBackend _backend = new();
    private readonly TrainingJobReconciler _reconciler;

    public ArgoCdHealthCheckTests()
    {
        _store = new InMemoryTrainingJobStore(_time);
        _reconciler = new TrainingJobReconciler(_store, [_backend], new InMemoryEventSink(), _time);
    }

    [Fact]
    public async Task Every_phase_the_reconciler_produces_maps_to_Argo_CD_health_with_a_reason()
    {
        _store.Create(Job("health").WithReplicas(2).WithMaxRetries(1));
        await ReconcileAsync();
        await AssertHealthAsync(TrainingJobPhase.Starting, "Progressing", "");

        _backend.SetAll(ReplicaState.Running);
        await ReconcileAsync();
        await AssertHealthAsync(TrainingJobPhase.Running, "Progressing", "");

        _backend.Set(1, ReplicaState.Failed, "CUDA out of memory", exitCode: 1);
        await ReconcileAsync();
        await AssertHealthAsync(TrainingJobPhase.Pending, "Progressing", "CUDA out of memory");

        _time.Advance(TimeSpan.FromMinutes(5));
        for (var i = 0; i < 4 && Stored().Status!.Phase != TrainingJobPhase.Starting; i++)
        {
            await ReconcileAsync();
        }

        _backend.SetAll(ReplicaState.Running);
        await ReconcileAsync();
        _backend.SetAll(ReplicaState.Succeeded, exitCode: 0);
        await ReconcileAsync();
        await AssertHealthAsync(TrainingJobPhase.Succeeded, "Healthy", "attempt 2");
    }

    [Fact]
    public async Task A_failed_job_is_Degraded_and_a_suspended_one_Suspended()
    {
        _store.Create(Job("health").WithReplicas(1));
        await ReconcileAsync();
        _backend.SetAll(ReplicaState.Failed, "loss is NaN", exitCode: 2);
        await ReconcileAsync();
        await AssertHealthAsync(TrainingJobPhase.Failed, "Degraded", "loss is NaN");

        _store.Create(Job("paused").WithReplicas(1).Suspended());
        await _reconciler.ReconcileAsync("team-a", "paused", CancellationToken.None);
        Assert.Equal(TrainingJobPhase.Suspended, Stored("paused").Status!.Phase);
        var (status, message) = await RunAsync(Stored("paused"));
        Assert.Equal("Suspended", status);
        Assert.Contains("suspend", message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_job_without_status_or_with_a_newer_generation_is_Progressing()
    {
        var (status, message) = await RunAsync(Job("fresh").Build());
        Assert.Equal(("Progressing", "Waiting for the operator to record a status"), (status, message));

        _store.Create(Job("health").WithReplicas(1));
        await ReconcileAsync();
        _backend.SetAll(ReplicaState.Running);
        await ReconcileAsync();
        var newer = Stored();
        newer.Metadata.Generation = (newer.Status!.ObservedGeneration ?? 1) + 1;
        (status, message) = await RunAsync(newer);
        Assert.Equal("Progressing", status);
        Assert.Contains("generation", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_argocd_cm_values_snippet_carries_the_tested_script()
    {
        var values = Path.Combine(Path.GetDirectoryName(Script)!, "argocd-cm-values.yaml");
        var parsed = new YamlDotNet.Serialization.DeserializerBuilder().Build().Deserialize<Dictionary<string, Dictionary<string, Dictionary<string, string>>>>(File.ReadAllText(values));
        Assert.Equal(File.ReadAllText(Script), parsed["configs"]["cm"]["resource.customizations.health.ferry.dev_TrainingJob"]);
    }

    private Task ReconcileAsync() => _reconciler.ReconcileAsync("team-a", "health", CancellationToken.None);

    private TrainingJob Stored(string name = "health") => _store.GetAsync("team-a", name, CancellationToken.None).Result!;

    private async Task AssertHealthAsync(TrainingJobPhase phase, string expected, string messagePart)
    {
        var job = Stored();
        Assert.Equal(phase, job.Status!.Phase);
        var (status, message) = await RunAsync(job);
        Assert.Equal(expected, status);
        Assert.False(string.IsNullOrWhiteSpace(message));
        Assert.Contains(messagePart, message, StringComparison.Ordinal);
    }

    private static async Task<(string Status, string Message)> RunAsync(TrainingJob job)
    {
        var runner = $"local cjson = require 'cjson'; obj = cjson.decode(io.read('a')); local hs = dofile('{Script}'); io.write(hs.status, '\\n', hs.message)";
        using var lua = Process.Start(new ProcessStartInfo("lua5.4", ["-e", runner])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        await lua.StandardInput.WriteAsync(KubernetesJson.Serialize(job));
        lua.StandardInput.Close();
        var output = await lua.StandardOutput.ReadToEndAsync();
        var error = await lua.StandardError.ReadToEndAsync();
        await lua.WaitForExitAsync();
        Assert.True(lua.ExitCode == 0, error);
        var lines = output.Split('\n', 2);
        return (lines[0], lines.Length > 1 ? lines[1] : "");
    }
}
