using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Tests.Fixtures;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>
/// The InCluster path with the trainer this repository builds (src/TrainerImage) in both ranks: pods in the emulator,
/// run as local processes by the kubelet (the real agent around the real trainer), a Fashion-MNIST slice in moto's S3.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class RealTrainerTests(MotoS3 moto, Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const string Dataset = "/usr/share/datasets/fashion-mnist";
    private readonly string _work = Directory.CreateTempSubdirectory("ferry-real-trainer-").FullName;

    public void Dispose() => Directory.Delete(_work, true);

    /// <summary>
    /// Rank 0's trainer is SIGKILLed in the middle of epoch 2; attempt 2 must resume from the checkpoint the status
    /// recorded and end with the accuracy of the same job run without interruption.
    /// </summary>
    [Fact]
    public async Task Killing_rank_0_mid_epoch_resumes_from_the_recorded_checkpoint_and_ends_with_the_uninterrupted_accuracy()
    {
        var trainer = TrainerExecutable();
        var bucket = await moto.CreateBucketAsync();
        await UploadSliceAsync(bucket, "train", 4096);
        await UploadSliceAsync(bucket, "t10k", 512);

        var baseline = await RunAsync(trainer, bucket, "straight", killRank0InEpoch: null);
        var resumed = await RunAsync(trainer, bucket, "killed", killRank0InEpoch: 2);

        var status = resumed.Status!;
        Assert.Equal(1, baseline.Status!.Attempt);
        Assert.Equal(2, status.Attempt);
        var failure = Assert.Single(status.AttemptFailures!);
        // Rank 0 died of SIGKILL and rank 1's collective broke with it. Rank 1's pod often ends first (rank 0's agent
        // syncs, copies its log and writes the report before it exits); the operator waits for the gang to settle and
        // orders the replicas by their processes' ends, which the agents report.
        Assert.Equal(0, failure.Replica);
        Assert.Equal("SIGKILL", failure.Signal);
        Assert.Equal([1], failure.FailedAfter!.Select(f => f.Replica));
        // Killed once rank 0 was seen in epoch 2, so the newest checkpoint attempt 1 left is epoch 1's (or epoch 2's, had
        // the epoch ended before the kill landed on a busy machine); attempt 2's trainer starts there, and the status
        // said so when it started attempt 2, from rank 0's last report.
        var rank0 = System.Text.Encoding.UTF8.GetString(await moto.GetBytesAsync(bucket, "out/killed/attempt-2/algo-1.log"));
        var from = System.Text.RegularExpressions.Regex.Match(rank0, "resumed from checkpoint epoch ([12])");
        Assert.True(from.Success, rank0);
        var created = ConditionList.Find(status.Conditions, "Created")!.Message;
        Assert.Contains($"Resuming from epoch {from.Groups[1].Value} (s3://{bucket}/ckpt/killed/", created, StringComparison.Ordinal);
        Assert.Equal(3, status.Checkpoint!.Epoch);

        var straight = Accuracy(baseline);
        var afterKill = Accuracy(resumed);
        output.WriteLine($"val_accuracy uninterrupted {straight}, killed and resumed {afterKill}");
        // Same seed, same data order per epoch and a bit-identical resume: equal up to the noise of float reductions.
        Assert.InRange(afterKill, straight - 0.02, straight + 0.02);
        Assert.InRange(straight, 0.5, 1.0);
    }

    /// <summary>
    /// A MetricThreshold rule on the validation accuracy rank 0 reports live: once the trainer passes it, the operator
    /// stops the job (SIGTERM to both ranks), the job ends Stopped with the rule as the reason, and the checkpoints the
    /// trainer wrote before the stop are in S3.
    /// </summary>
    [Fact]
    public async Task A_threshold_rule_on_live_accuracy_stops_the_trainer_and_its_checkpoints_are_kept()
    {
        var trainer = TrainerExecutable();
        var bucket = await moto.CreateBucketAsync();
        await UploadSliceAsync(bucket, "train", 4096);
        await UploadSliceAsync(bucket, "t10k", 512);
        var options = new InClusterOptions { StopGracePeriod = TimeSpan.FromSeconds(10) };
        var runtime = new ProcessPodRuntime(_work, new Dictionary<string, string> { ["train"] = trainer }, RankEnvironment());
        var op = LiveOperator.Start(await OperatorHarness.StartAsync(runtime, options), options);
        await using var harness = op.Harness;
        var rule = new TrainingRule { Name = "good-enough", Type = TrainingRuleType.MetricThreshold, Metric = "val_accuracy", Value = 0.5, Comparison = RuleComparison.GreaterThan, Action = RuleAction.Stop };
        // Far more epochs than it needs: only the rule ends this job.
        await harness.ApplyAsync(TrainerJob("enough", bucket, epochs: 200).With(j => j.Spec.Rules = [rule]));

        var stopped = await op.UntilAsync("enough", j => j.Status?.Phase == TrainingJobPhase.Stopped, TimeSpan.FromSeconds(10), timeoutSeconds: 600);

        var triggered = ConditionList.Find(stopped.Status!.Conditions, TrainingJobConditions.RuleTriggered)!;
        Assert.Equal(("True", Ferry.Operator.Reconciliation.Policies.RulePolicy.ReasonOf("good-enough")), (triggered.Status, triggered.Reason));
        Assert.Contains("val_accuracy", triggered.Message, StringComparison.Ordinal);
        Assert.Equal("good-enough", Assert.Single(stopped.Status.RuleFirings!).Rule);
        var accuracy = Assert.Single(stopped.Status.Metrics!, m => m.Name == "val_accuracy");
        Assert.True(accuracy.Value > 0.5, $"val_accuracy {accuracy.Value}");
        Assert.NotNull(accuracy.Epoch);
        var progress = stopped.Status.Progress!;
        Assert.Equal(200, progress.Epochs);
        Assert.True(progress.Epoch < 200, $"stopped at epoch {progress.Epoch} of 200");

        // Rank 0's agent, given its grace period, uploads what the trainer saved before SIGTERM: the newest epoch
        // checkpoint, nothing half-written. (Real time: the agent runs outside the fake clock; the deadline only guards.)
        var deadline = DateTime.UtcNow.AddSeconds(120);
        IReadOnlyList<string> checkpoints;
        while ((checkpoints = await moto.KeysAsync(bucket, "ckpt/enough/")).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no checkpoint reached S3 after the stop:\n" + string.Join('\n', runtime.Logs.Where(l => l.StartsWith("enough-0", StringComparison.Ordinal)).TakeLast(20)));
            await Task.Delay(200);
        }

        var saved = Assert.Single(checkpoints);
        Assert.Matches(@"^ckpt/enough/epoch-\d{4}\.ckpt$", saved);
        Assert.Equal(TrainingJobPhase.Stopped, (await harness.GetAsync("enough"))!.Status!.Phase);

        // What a user sees (the README's excerpt comes from this output).
        var describe = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("kubectl", ["--kubeconfig", harness.Api.KubeconfigPath, "describe", "tj", "enough", "-n", OperatorHarness.Namespace])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var described = await describe.StandardOutput.ReadToEndAsync();
        await describe.WaitForExitAsync();
        output.WriteLine(described);
        Assert.Equal(0, describe.ExitCode);
        foreach (var expected in new[] { "RuleTriggered", "Metric History:", "val_accuracy", "Stopped" })
        {
            Assert.Contains(expected, described, StringComparison.Ordinal);
        }
    }

    private async Task<TrainingJob> RunAsync(string trainer, string bucket, string name, int? killRank0InEpoch)
    {
        var runtime = new ProcessPodRuntime(_work, new Dictionary<string, string> { ["train"] = trainer }, RankEnvironment());
        await using var harness = await OperatorHarness.StartAsync(runtime, new InClusterOptions { StopGracePeriod = TimeSpan.FromSeconds(5) });
        await harness.ApplyAsync(TrainerJob(name, bucket, epochs: 3).WithMaxRetries(1));

        var killed = killRank0InEpoch is null;
        // Fake time in steps small enough that the operator's 30 s wait for a failing gang to settle outlasts rank 0's
        // agent's real wrap-up (checkpoint sync, log copy, report) even on a loaded machine.
        var done = await harness.ReconcileUntilAsync(name, (job, _) =>
        {
            if (!killed && runtime.Logs.Any(l => l.StartsWith($"{name}-0/train: epoch={killRank0InEpoch} step=", StringComparison.Ordinal)))
            {
                killed = KillTrainerOf(Path.Combine(_work), $"{name}-0-");
            }

            return job?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed;
        }, step: TimeSpan.FromMilliseconds(200), timeoutSeconds: 600);

        Assert.True(done!.Status!.Phase == TrainingJobPhase.Succeeded, done.Status.FailureReason + "\n" + string.Join('\n', runtime.Logs.TakeLast(60)));
        Assert.True(killed, "rank 0 was never seen in the epoch it was to be killed in");
        return done;
    }

    /// <summary>The trainer's executable (its apphost), built with the solution.</summary>
    private static string TrainerExecutable()
    {
        var trainer = Path.Combine(Path.GetDirectoryName(Backends.Local.LocalPrograms.Trainer().LeadingArguments[0])!, "train");
        Assert.True(File.Exists(trainer), $"the trainer's executable {trainer} is not built: dotnet build -c Release src/TrainerImage");
        return trainer;
    }

    /// <summary>moto's endpoint, and the loopback for the ranks to meet on: the headless Service's DNS names exist only in a cluster.</summary>
    private Dictionary<string, string> RankEnvironment() => new(moto.ProcessEnvironment)
    {
        ["MASTER_ADDR"] = "127.0.0.1",
        // Outside the ephemeral range: the ranks' ring listeners bind port 0 and could otherwise take it first.
        ["MASTER_PORT"] = Backends.Local.LocalPrograms.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Two ranks of the built trainer on the uploaded slice, a small MLP, checkpoints and output in the bucket.</summary>
    private static TrainingJobBuilder TrainerJob(string name, string bucket, int epochs) => Job(name).WithReplicas(2).With(j =>
    {
        j.Spec.Command = ["train"];
        j.Spec.Inputs = [new InputChannel { Name = "train", Uri = $"s3://{bucket}/data" }];
        j.Spec.Output = new OutputSpec { Uri = $"s3://{bucket}/out" };
        j.Spec.Checkpoint = new CheckpointSpec { Uri = $"s3://{bucket}/ckpt/{name}" };
        j.Spec.HyperParameters = new Dictionary<string, string>
        {
            ["model"] = "mlp",
            ["hidden_units"] = "64",
            ["epochs"] = epochs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["batch_size"] = "16",
            ["learning_rate"] = "0.05",
            ["log_interval"] = "8",
            ["seed"] = "11",
        };
    });

    private static double Accuracy(TrainingJob job) => job.Status!.Metrics!.Single(m => m.Name == "val_accuracy").Value;

    /// <summary>
    /// SIGKILLs the trainer process (not its agent) of the pod whose work directory starts with
    /// <paramref name="podPrefix"/>: found by its executable and the pod's /opt/ml in its environment.
    /// </summary>
    private static bool KillTrainerOf(string work, string podPrefix)
    {
        var marker = "FERRY_OPT_ML=" + Path.Combine(work, podPrefix);
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                var executable = new FileInfo(Path.Combine(directory, "exe")).LinkTarget;
                if (Path.GetFileName(executable) != "train")
                {
                    continue;
                }

                var environ = File.ReadAllText(Path.Combine(directory, "environ")).Split('\0');
                if (environ.Any(v => v.StartsWith(marker, StringComparison.Ordinal)))
                {
                    System.Diagnostics.Process.GetProcessById(pid).Kill();
                    return true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                // The process ended while it was being read.
            }
        }

        return false;
    }

    /// <summary>The first <paramref name="count"/> records of a Fashion-MNIST split, as uncompressed IDX files under data/.</summary>
    private async Task UploadSliceAsync(string bucket, string split, int count)
    {
        using var client = moto.CreateClient();
        foreach (var (kind, header, record) in new[] { ("images-idx3-ubyte", 16, 28 * 28), ("labels-idx1-ubyte", 8, 1) })
        {
            await using var source = new GZipStream(File.OpenRead(Path.Combine(Dataset, $"{split}-{kind}.gz")), CompressionMode.Decompress);
            var bytes = new byte[header + (count * record)];
            await source.ReadExactlyAsync(bytes);
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
            await client.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
            {
                BucketName = bucket,
                Key = $"data/{split}-{kind}",
                InputStream = new MemoryStream(bytes),
            });
        }
    }

}
