using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Tests.Local;

/// <summary>Live metrics and a training rule on the Local backend, with real agent processes and the shared reconciler.</summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalLiveMetricsTests : IDisposable
{
    private readonly LocalRun _run = new("ferry-local-live-");

    public void Dispose() => _run.Dispose();

    private async Task<(TrainingJob Final, List<TrainingJobStatus> Seen)> RunAsync(string script, string rules, Action<TrainingJobStatus> onStatus)
    {
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: live
            spec:
              backend: Local
              command: ["{{script}}"]
              resources:
                replicas: 2
            {{rules}}
            """);
        var job = ManifestLoader.LoadFile(_run.PathOf("job.yaml"));
        var plan = LocalJobPlan.For(job, _run.WorkDirectory, _run.Directory, () => LocalPrograms.Trainer());
        var seen = new List<TrainingJobStatus>();
        await using var backend = new LocalBackend(plan, LocalPrograms.Agent(), TimeProvider.System, _ => { })
        {
            StopGracePeriod = TimeSpan.FromSeconds(2),
            LiveMetricsInterval = TimeSpan.Zero,
        };
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var final = await new LocalJobRunner(backend, TimeProvider.System)
        {
            StatusChanged = j =>
            {
                lock (seen)
                {
                    seen.Add(k8s.KubernetesJson.Deserialize<TrainingJobStatus>(k8s.KubernetesJson.Serialize(j.Status)));
                }

                onStatus(j.Status!);
            },
        }.RunAsync(job, guard.Token);
        return (final, seen);
    }

    [Fact]
    public async Task Metrics_appear_while_the_job_runs_and_a_NaN_rule_stops_it()
    {
        // Rank 0 prints a falling loss until the status shows it (the marker), then a NaN, then trains on "for ever".
        var marker = _run.PathOf("seen");
        var script = _run.Script("train.sh", $$"""
            trap 'touch "{{_run.PathOf("stopped")}}-$RANK"; exit 143' TERM
            i=0
            while [ ! -f "{{marker}}" ]; do
              i=$((i+1))
              echo "epoch=1 step=$i train_loss=$(awk "BEGIN{print 10/$i}")"
              sleep 0.1
            done
            echo "epoch=1 step=999 train_loss=nan"
            while true; do sleep 0.1; done
            """);
        // The status the runner publishes is what `ferry run` shows: once a running job shows a loss, the trainer goes on.
        var run = RunAsync(script, "  rules:\n    - type: NaN\n      action: Stop", status =>
        {
            if (status.Phase == TrainingJobPhase.Running && status.Metrics?.Any(m => m.Name == "train_loss") == true && !File.Exists(marker))
            {
                File.WriteAllText(marker, "");
            }
        });

        var (final, seen) = await run;

        var status = final.Status!;
        Assert.Equal(TrainingJobPhase.Stopped, status.Phase);
        Assert.Equal("NaN", ConditionList.Find(status.Conditions, TrainingJobConditions.Stopped)!.Reason);
        Assert.Contains("train_loss became NaN (step 999)", ConditionList.Find(status.Conditions, TrainingJobConditions.RuleTriggered)!.Message, StringComparison.Ordinal);
        Assert.Contains(seen, s => s.Phase == TrainingJobPhase.Running && s.Metrics?.Any(m => m.Name == "train_loss") == true);
        Assert.True(File.Exists(_run.PathOf("stopped") + "-0"), "rank 0 must get SIGTERM (its grace period) when the rule stops the job");
    }
}
