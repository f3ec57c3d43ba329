using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Cli;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Tests.Local;

/// <summary>Gang restarts, retries, the runtime limit and interruption, with real processes and the shared reconciler.</summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalLifecycleTests : IDisposable
{
    private readonly LocalRun _run = new("ferry-local-lifecycle-");

    public void Dispose() => _run.Dispose();

    private string Manifest(string command, string extra) => _run.Manifest($$"""
        apiVersion: ferry.dev/v1alpha1
        kind: TrainingJob
        metadata:
          name: lifecycle
        spec:
          backend: Local
          command: ["{{command}}"]
          output:
            uri: file://./out
          checkpoint:
            uri: file://./checkpoints
          resources:
            replicas: 2
        {{extra}}
        """);

    [Fact]
    public async Task A_failed_replica_restarts_the_whole_attempt_which_resumes_from_the_checkpoint_and_completes()
    {
        // Attempt 1: rank 0 saves a checkpoint, then fails once (the marker remembers it). Attempt 2 must find it.
        var marker = _run.PathOf("failed-once");
        var script = _run.Script("flaky.sh", $$"""
            if [ "$RANK" = 0 ] && [ ! -f "{{marker}}" ]; then
              echo "step 7" > "$FERRY_OPT_ML/checkpoints/state.txt"
              touch "{{marker}}"
              echo "CUDA error: device-side assert (simulated)" > "$FERRY_OPT_ML/output/failure"
              exit 3
            fi
            if [ "$RANK" = 0 ]; then cp "$FERRY_OPT_ML/checkpoints/state.txt" "$SM_MODEL_DIR/resumed-from.txt"; fi
            echo "epoch=1 step=10 train_loss=0.25"
            """);
        Manifest(script, "  maxRetries: 2");

        var job = await _run.RunJobAsync();

        var status = job.Status!;
        Assert.Equal(TrainingJobPhase.Succeeded, status.Phase);
        Assert.Equal(2, status.Attempt);
        Assert.True(ConditionList.IsTrue(status.Conditions, TrainingJobConditions.Complete));
        Assert.Null(status.FailureReason);
        Assert.Equal(_run.PathOf("out/lifecycle/output/model.tar.gz"), new Uri(status.Artifacts!.Model!).LocalPath);
        var entries = await LocalRun.ReadArchiveAsync(_run.PathOf("out/lifecycle/output/model.tar.gz"));
        Assert.Equal("step 7\n", Encoding.UTF8.GetString(entries["resumed-from.txt"]));
        Assert.Equal(0.25, Assert.Single(status.Metrics!, m => m.Name == "train_loss").Value);
        Assert.True(Directory.Exists(_run.PathOf("work/lifecycle/attempt-2/algo-1")));
    }

    [Fact]
    public async Task Failures_past_maxRetries_end_Failed_with_the_failure_file_as_the_reason_and_exit_code_1()
    {
        var script = _run.Script("broken.sh", """
            if [ "$RANK" = 1 ]; then
              echo "data channel train is empty: expected train-images-idx3-ubyte.gz" > "$FERRY_OPT_ML/output/failure"
              exit 2
            fi
            exec sleep 30
            """);
        Manifest(script, "  maxRetries: 1");

        var (exit, output, error) = await _run.RunCommandAsync();

        Assert.Equal(RunCommand.Failed, exit);
        Assert.Contains("phase: Failed", output, StringComparison.Ordinal);
        Assert.Contains("failureReason: 'data channel train is empty: expected train-images-idx3-ubyte.gz'", output, StringComparison.Ordinal);
        Assert.Contains("attempt: 2", output, StringComparison.Ordinal);
        Assert.Contains("reason: MaxRetriesExceeded", output, StringComparison.Ordinal);
        Assert.Contains("the job ended Failed: data channel train is empty", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_running_past_maxRuntimeSeconds_is_stopped_and_fails()
    {
        var script = _run.Script("slow.sh", "exec sleep 120");
        Manifest(script, "  stoppingCondition:\n    maxRuntimeSeconds: 2");

        var job = await _run.RunJobAsync();

        Assert.Equal(TrainingJobPhase.Failed, job.Status!.Phase);
        var failed = ConditionList.Find(job.Status.Conditions, TrainingJobConditions.Failed)!;
        Assert.Equal(TrainingJobStatusCalculator.Reasons.MaxRuntimeExceeded, failed.Reason);
        Assert.Contains("maxRuntimeSeconds (2s)", job.Status.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Interrupting_the_run_stops_the_replicas_and_ends_Stopped()
    {
        var started = _run.PathOf("started");
        var script = _run.Script("long.sh", $$"""
            touch "{{started}}-$RANK"
            exec sleep 120
            """);
        Manifest(script, "");
        using var interrupt = new CancellationTokenSource();

        var running = _run.RunCommandAsync(cancellationToken: interrupt.Token);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!(File.Exists(started + "-0") && File.Exists(started + "-1")))
        {
            Assert.True(DateTime.UtcNow < deadline, "the replicas did not start within 90s");
            Assert.False(running.IsCompleted, "the run ended before it was interrupted");
            await Task.Delay(100);
        }

        await interrupt.CancelAsync();
        var (exit, output, _) = await running;

        Assert.Equal(RunCommand.Interrupted, exit);
        Assert.Contains("phase: Stopped", output, StringComparison.Ordinal);
        Assert.Contains("reason: Interrupted", output, StringComparison.Ordinal);
        Assert.Contains("active: 0", output, StringComparison.Ordinal);
    }
}
