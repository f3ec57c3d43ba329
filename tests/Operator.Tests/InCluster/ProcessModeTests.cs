using System.Formats.Tar;
using System.IO.Compression;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Storage;
using Ferry.Operator.Tests.Fixtures;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>
/// End to end through the pod spec: the reconciler creates pods in the emulator, the kubelet runs their containers as
/// local processes (the real agent from `ferry.dll`, a shell script as `train`), inputs and artifacts live in moto's S3.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class ProcessModeTests(MotoS3 moto, Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("ferry-process-mode-").FullName;

    public void Dispose() => Directory.Delete(_work, true);

    private async Task<string> TrainScriptAsync(string body)
    {
        var path = Path.Combine(_work, "train.sh");
        await File.WriteAllTextAsync(path, "#!/bin/sh\nset -e\n" + body + "\n");
        return path;
    }

    private Task<OperatorHarness> StartAsync()
    {
        // spec.command `train <script>` runs as `sh <script>`: the stand-in for a training image's `train`.
        var runtime = new ProcessPodRuntime(_work, new Dictionary<string, string> { ["train"] = "/bin/sh" }, moto.ProcessEnvironment);
        return OperatorHarness.StartAsync(runtime, new InClusterOptions { StopGracePeriod = TimeSpan.FromSeconds(5) });
    }

    [Fact]
    public async Task Pods_run_the_real_agent_and_the_model_lands_in_s3()
    {
        var bucket = await moto.CreateBucketAsync();
        for (var i = 0; i < 4; i++)
        {
            await moto.PutTextAsync(bucket, $"data/train/shard-{i}.idx", $"shard {i}");
        }

        var script = await TrainScriptAsync("""
            ls "$SM_CHANNEL_TRAIN" > "$SM_MODEL_DIR/files-$SM_CURRENT_HOST.txt"
            cat "$FERRY_OPT_ML/input/config/resourceconfig.json" > "$SM_MODEL_DIR/resourceconfig-$RANK.json"
            echo "epoch=1 train_loss=0.5 val_accuracy=0.81"
            echo "epoch=2 train_loss=0.3 val_accuracy=0.87"
            """);
        await using var harness = await StartAsync();
        await harness.ApplyAsync(Job("e2e").WithReplicas(2).With(j =>
        {
            j.Spec.Command = ["train", script];
            j.Spec.Inputs = [new InputChannel { Name = "train", Uri = $"s3://{bucket}/data/train", Distribution = S3DataDistribution.ShardedByS3Key }];
            j.Spec.Output = new OutputSpec { Uri = $"s3://{bucket}/out" };
            j.Spec.Checkpoint = new CheckpointSpec { Uri = $"s3://{bucket}/ckpt/e2e" };
        }));

        var done = await harness.ReconcileUntilAsync("e2e", (job, _) => job?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed, timeoutSeconds: 120);

        Assert.True(done!.Status!.Phase == TrainingJobPhase.Succeeded, done.Status.FailureReason + "\n" + string.Join('\n', ((ProcessPodRuntime)harness.Api.Kubelet.Runtime).Logs));
        var model = $"s3://{bucket}/out/e2e/output/model.tar.gz";
        Assert.Equal(model, done.Status.Artifacts!.Model);
        var files = await UnpackAsync(await moto.GetBytesAsync(bucket, "out/e2e/output/model.tar.gz"));
        // Replica 0 packs its own /opt/ml/model; its shard is every other object of the sorted list.
        Assert.Equal("shard-0.idx\nshard-2.idx\n", files["files-algo-1.txt"]);
        Assert.Equal("{\"current_group_name\":\"homogeneousCluster\",\"current_host\":\"algo-1\",\"current_instance_type\":\"local\",\"hosts\":[\"algo-1\",\"algo-2\"],\"instance_groups\":[{\"hosts\":[\"algo-1\",\"algo-2\"],\"instance_group_name\":\"homogeneousCluster\",\"instance_type\":\"local\"}],\"network_interface_name\":\"eth0\"}", files["resourceconfig-0.json"]);
        Assert.Equal(0.87, done.Status.Metrics!.Single(m => m.Name == "val_accuracy").Value);
        Assert.Equal(2, done.Status.Metrics!.Single(m => m.Name == "epoch").Value);
    }

    [Fact]
    public async Task A_failure_file_becomes_the_jobs_failure_reason()
    {
        var bucket = await moto.CreateBucketAsync();
        var script = await TrainScriptAsync("""
            if [ "$RANK" = "1" ]; then
              printf 'Dataset shard is empty on %s' "$SM_CURRENT_HOST" > "$FERRY_OPT_ML/output/failure"
              exit 4
            fi
            sleep 30
            """);
        await using var harness = await StartAsync();
        await harness.ApplyAsync(Job("e2e-fail").WithReplicas(2).With(j =>
        {
            j.Spec.Command = ["train", script];
            j.Spec.Output = new OutputSpec { Uri = $"s3://{bucket}/out" };
        }));

        // Fake time moves on, so the operator's wait for the rest of the gang to end (30 s) runs out long before rank 0's
        // 30 s of real sleep: rank 0 is stopped, and a failed job uploads no model.
        var done = await harness.ReconcileUntilAsync("e2e-fail", (job, _) => job?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed,
            step: TimeSpan.FromSeconds(1), timeoutSeconds: 120);

        Assert.Equal(TrainingJobPhase.Failed, done!.Status!.Phase);
        Assert.Equal("Dataset shard is empty on algo-2", done.Status.FailureReason);
        Assert.Equal("ReplicaFailed", ConditionList.Find(done.Status.Conditions, "Failed")!.Reason);
        Assert.Empty(await moto.KeysAsync(bucket, "out/e2e-fail/output/"));
    }

    [Fact]
    public async Task A_crash_of_rank_1_leaves_a_post_mortem_and_the_logs_of_both_replicas_after_the_pods_are_gone()
    {
        var bucket = await moto.CreateBucketAsync();
        // Rank 1 fails only once rank 0 runs its training process, so both replicas have output to copy however slow the machine.
        var started = Path.Combine(_work, "rank0-started");
        var script = await TrainScriptAsync("""
            echo "rank $RANK: epoch=1 step=100 train_loss=0.61"
            if [ "$RANK" = "0" ]; then touch "RANK0_STARTED"; fi
            if [ "$RANK" = "1" ]; then
              while [ ! -e "RANK0_STARTED" ]; do sleep 0.1; done
              echo "Traceback (most recent call last):" >&2
              echo '  File "train.py", line 88, in <module>' >&2
              echo "    loss = model(batch)" >&2
              echo "RuntimeError: shape mismatch: [32, 784] @ [512, 10] on rank 1" >&2
              exit 1
            fi
            while true; do sleep 0.2; done
            """.Replace("RANK0_STARTED", started, StringComparison.Ordinal));
        await using var harness = await StartAsync();
        await harness.ApplyAsync(Job("pm").WithReplicas(2).WithCleanPodPolicy(CleanPodPolicy.All).With(j =>
        {
            j.Spec.Command = ["train", script];
            j.Spec.Output = new OutputSpec { Uri = $"s3://{bucket}/out" };
        }));

        // Rank 0 never ends on its own: fake time moves on so the operator's wait for the gang to settle (30 s) runs out.
        var done = await harness.ReconcileUntilAsync("pm", (job, _) => job?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed,
            step: TimeSpan.FromSeconds(1), timeoutSeconds: 120);
        Assert.Equal(TrainingJobPhase.Failed, done!.Status!.Phase);
        // The failure is recorded first; the clean-up of the pods follows, and rank 0's agent copies its log when stopped.
        var settled = await harness.ReconcileUntilAsync("pm", (_, pods) => pods.Count == 0, timeoutSeconds: 120);

        var record = Assert.Single(settled!.Status!.AttemptFailures!);
        Assert.Equal((1, 1, "pm-1", 1, "Error"), (record.Attempt, record.Replica!.Value, record.Pod, record.ExitCode!.Value, record.Cause));
        // stdout and stderr are two pipes: the tail keeps lines in the order they arrived, which may interleave them.
        Assert.Contains("RuntimeError: shape mismatch: [32, 784] @ [512, 10] on rank 1", record.LogTail, StringComparison.Ordinal);
        Assert.Contains("rank 1: epoch=1 step=100", record.LogTail, StringComparison.Ordinal);
        Assert.Equal($"s3://{bucket}/out/pm/attempt-1/", record.Logs);
        // Rank 0's agent copies its log once SIGTERM ended its process, which may be after its pod left the API.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await moto.KeysAsync(bucket, "out/pm/attempt-1/")).Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        var keys = await moto.KeysAsync(bucket, "out/pm/attempt-1/");
        Assert.True(keys.Count == 2, string.Join(",", keys) + "\n" + string.Join('\n', ((ProcessPodRuntime)harness.Api.Kubelet.Runtime).Logs.Where(l => l.StartsWith("pm-0", StringComparison.Ordinal))));
        var rank0 = System.Text.Encoding.UTF8.GetString(await moto.GetBytesAsync(bucket, "out/pm/attempt-1/algo-1.log"));
        Assert.StartsWith("rank 0: epoch=1 step=100", rank0, StringComparison.Ordinal);
        output.WriteLine(k8s.KubernetesYaml.Serialize(settled.Status));
    }

    [Fact]
    public async Task Killing_rank_0_mid_epoch_restarts_from_the_recorded_checkpoint()
    {
        var bucket = await moto.CreateBucketAsync();
        // Rank 0 saves epochs 1 and 2 atomically (temp file + rename, keeping only the latest), starts writing epoch 3
        // and is SIGKILLed mid-epoch. Attempt 2 must find epoch 2 — never the half-written epoch 3 — and finish.
        var script = await TrainScriptAsync("""
            ck="$FERRY_OPT_ML/checkpoints"
            if [ "$RANK" = "0" ]; then
              if [ -f "$ck/epoch-0002.ckpt" ]; then
                echo "resumed from checkpoint epoch 2: $(cat "$ck/epoch-0002.ckpt"); files: $(ls -A "$ck" | tr '\n' ' ')"
                exit 0
              fi
              for e in 1 2; do
                printf "state $e" > "$ck/.epoch-000$e.ckpt.tmp"
                mv "$ck/.epoch-000$e.ckpt.tmp" "$ck/epoch-000$e.ckpt"
              done
              rm "$ck/epoch-0001.ckpt"
              printf 'half' > "$ck/.epoch-0003.ckpt.tmp"
              echo "epoch 3 step 250"
              kill -9 $$
            fi
            if [ "$FERRY_ATTEMPT" = "2" ]; then exit 0; fi
            while true; do sleep 0.2; done
            """);
        await using var harness = await StartAsync();
        await harness.ApplyAsync(Job("resume").WithReplicas(2).WithMaxRetries(1).With(j =>
        {
            j.Spec.Command = ["train", script];
            j.Spec.Output = new OutputSpec { Uri = $"s3://{bucket}/out" };
            j.Spec.Checkpoint = new CheckpointSpec { Uri = $"s3://{bucket}/ckpt/resume" };
        }));

        // The operator's clock moves on so the restart backoff (10 s) passes; the processes run in real time.
        var done = await harness.ReconcileUntilAsync("resume", (job, _) => job?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed,
            step: TimeSpan.FromMilliseconds(500), timeoutSeconds: 180);

        var status = done!.Status!;
        Assert.True(status.Phase == TrainingJobPhase.Succeeded, string.Join('\n', ((ProcessPodRuntime)harness.Api.Kubelet.Runtime).Logs));
        Assert.Equal(2, status.Attempt);
        Assert.Equal((2, (long?)null, $"s3://{bucket}/ckpt/resume/epoch-0002.ckpt", 7L), (status.Checkpoint!.Epoch, status.Checkpoint.Step, status.Checkpoint.Uri, status.Checkpoint.Size!.Value));
        var record = Assert.Single(status.AttemptFailures!);
        Assert.Equal((0, 137, "SIGKILL"), (record.Replica!.Value, record.ExitCode!.Value, record.Signal));
        Assert.Contains("Resuming from epoch 2 (s3://", ConditionList.Find(status.Conditions, "Created")!.Message, StringComparison.Ordinal);
        Assert.Equal([$"ckpt/resume/epoch-0002.ckpt"], await moto.KeysAsync(bucket, "ckpt/"));
        var rank0 = System.Text.Encoding.UTF8.GetString(await moto.GetBytesAsync(bucket, "out/resume/attempt-2/algo-1.log"));
        Assert.Equal("resumed from checkpoint epoch 2: state 2; files: epoch-0002.ckpt \n", rank0);
    }

    [Fact]
    public async Task A_missing_input_bucket_fails_in_the_init_container_naming_the_field()
    {
        var bucket = await moto.CreateBucketAsync();
        var script = await TrainScriptAsync("echo never runs");
        await using var harness = await StartAsync();
        await harness.ApplyAsync(Job("e2e-noinput").With(j =>
        {
            j.Spec.Command = ["train", script];
            j.Spec.Inputs = [new InputChannel { Name = "train", Uri = "s3://no-such-bucket-for-ferry/train" }];
            j.Spec.Output = new OutputSpec { Uri = $"s3://{bucket}/out" };
        }));

        var done = await harness.ReconcileUntilAsync("e2e-noinput", (job, _) => job?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed, timeoutSeconds: 120);

        Assert.Equal(TrainingJobPhase.Failed, done!.Status!.Phase);
        Assert.Contains("ferry-init init container", done.Status.FailureReason, StringComparison.Ordinal);
        Assert.Contains("spec.inputs[0].uri 's3://no-such-bucket-for-ferry/train'", done.Status.FailureReason, StringComparison.Ordinal);
    }

    private static async Task<Dictionary<string, string>> UnpackAsync(byte[] archive)
    {
        var files = new Dictionary<string, string>();
        await using var gzip = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
        await using var reader = new TarReader(gzip);
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            if (entry.DataStream is not null)
            {
                using var text = new StreamReader(entry.DataStream);
                files[entry.Name] = await text.ReadToEndAsync();
            }
        }

        return files;
    }
}
