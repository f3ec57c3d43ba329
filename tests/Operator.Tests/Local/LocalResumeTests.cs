using Ferry.Operator.Cli;

namespace Ferry.Operator.Tests.Local;

/// <summary>`ferry run --resume`: a job without spec.checkpoint starts from the checkpoints its previous run left behind.</summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalResumeTests : IDisposable
{
    private readonly LocalRun _run = new("ferry-local-resume-");

    public void Dispose() => _run.Dispose();

    private void Manifest(string command) => _run.Manifest($$"""
        apiVersion: ferry.dev/v1alpha1
        kind: TrainingJob
        metadata:
          name: resumable
        spec:
          backend: Local
          command: ["{{command}}"]
          output:
            uri: file://./out
          resources:
            replicas: 2
        """);

    [Fact]
    public async Task Resume_starts_from_the_latest_checkpoint_of_the_previous_run()
    {
        // First run: rank 0 saves epochs 1 and 2 (keeping only the latest, as the trainer does), then crashes.
        // The resumed run must find epoch 2 in its checkpoint directory and nothing older.
        Manifest(_run.Script("train.sh", """
            if [ "$RANK" = 0 ]; then
              if [ -f "$FERRY_OPT_ML/checkpoints/epoch-0002.ckpt" ]; then
                echo "resumed with $(ls "$FERRY_OPT_ML/checkpoints" | tr '\n' ' ')"
                exit 0
              fi
              printf 'one' > "$FERRY_OPT_ML/checkpoints/epoch-0001.ckpt"
              printf 'two' > "$FERRY_OPT_ML/checkpoints/epoch-0002.ckpt"
              rm "$FERRY_OPT_ML/checkpoints/epoch-0001.ckpt"
              echo "RuntimeError: crashed after epoch 2" >&2
              exit 1
            fi
            """));

        var (firstExit, _, _) = await _run.RunCommandAsync();
        var (exit, output, error) = await _run.RunCommandAsync(verbose: true, resume: true);

        Assert.Equal(RunCommand.Failed, firstExit);
        Assert.True(exit == RunCommand.Complete, $"exit {exit}\n{output}\n{error}");
        Assert.Contains("resuming from epoch-0002.ckpt of the previous run (attempt 1)", output, StringComparison.Ordinal);
        Assert.Contains("resumed with epoch-0002.ckpt ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resume_without_an_earlier_run_says_what_to_do()
    {
        Manifest(_run.Script("train.sh", "echo never runs"));

        var (exit, output, error) = await _run.RunCommandAsync(resume: true);

        Assert.Equal(RunCommand.Failed, exit);
        Assert.Contains("--resume found no checkpoint of an earlier run of resumable under ", error, StringComparison.Ordinal);
        Assert.Contains("run without --resume", error, StringComparison.Ordinal);
        Assert.DoesNotContain("never runs", output, StringComparison.Ordinal);
    }
}
