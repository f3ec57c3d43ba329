using System.Text;
using Ferry.Operator.Agent;
using Ferry.Operator.Contract;
using Ferry.Operator.Storage;
using Ferry.Operator.Tests.Fixtures;

namespace Ferry.Operator.Tests.Agent;

/// <summary>Checkpoint mirroring (no half-written files, pruning carried to the store) and the agent's post-mortem, against moto S3.</summary>
[Collection(MotoCollection.Name)]
public sealed class CheckpointAndPostMortemTests(MotoS3 moto) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("ferry-agent-pm-").FullName;
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    public void Dispose()
    {
        Directory.Delete(_scratch, true);
        _out.Dispose();
        _err.Dispose();
    }

    private static AgentJob Job(string bucket, IReadOnlyDictionary<string, string>? environment = null) => new(
        JobName: "mnist",
        Replicas: 2,
        GpusPerReplica: 0,
        CpusPerReplica: 1,
        HyperParameters: new Dictionary<string, string>(),
        Inputs: [],
        OutputUri: $"s3://{bucket}/out",
        CheckpointUri: $"s3://{bucket}/ckpt/mnist",
        MetricDefinitions: [],
        Environment: environment);

    private AgentSettings Settings(int index, int attempt = 1) => new(
        index,
        Path.Combine(_scratch, $"replica-{index}"),
        Path.Combine(_scratch, $"replica-{index}.termination-log"),
        StopGracePeriod: TimeSpan.FromSeconds(1),
        CheckpointSyncInterval: TimeSpan.FromMinutes(10),
        Attempt: attempt);

    private async Task<string> ScriptAsync(string body)
    {
        var path = Path.Combine(_scratch, "train.sh");
        await File.WriteAllTextAsync(path, "#!/bin/sh\n" + body + "\n");
        return path;
    }

    private async Task<(int Exit, TerminationMessage Message)> ExecAsync(AgentJob job, AgentSettings settings, string script)
    {
        using var stores = new ObjectStoreFactory(moto.Settings);
        var exit = await new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", script], CancellationToken.None);
        var text = await File.ReadAllTextAsync(settings.TerminationMessagePath);
        Assert.True(Encoding.UTF8.GetByteCount(text) <= TerminationMessage.MaximumBytes, $"termination message of {text.Length} bytes");
        return (exit, TerminationMessage.Parse(text, -1)!);
    }

    [Fact]
    public async Task A_half_written_checkpoint_is_never_uploaded()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(0);
        var job = Job(bucket);
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        // The trainer's own atomic write: a temp file renamed when complete. A crash leaves the temp file behind.
        var script = await ScriptAsync("""
            printf 'complete' > "$FERRY_OPT_ML/checkpoints/.epoch-0001.ckpt.41.tmp"
            mv "$FERRY_OPT_ML/checkpoints/.epoch-0001.ckpt.41.tmp" "$FERRY_OPT_ML/checkpoints/epoch-0001.ckpt"
            printf 'torn' > "$FERRY_OPT_ML/checkpoints/.epoch-0002.ckpt.41.tmp"
            printf 'torn' > "$FERRY_OPT_ML/checkpoints/model.safetensors.part"
            exit 9
            """);

        var (exit, message) = await ExecAsync(job, settings, script);

        Assert.Equal(9, exit);
        Assert.Equal(["ckpt/mnist/epoch-0001.ckpt"], await moto.KeysAsync(bucket, "ckpt/"));
        Assert.Equal($"s3://{bucket}/ckpt/mnist/epoch-0001.ckpt", message.Checkpoint!.Uri);
        Assert.Equal(1, message.Checkpoint.Epoch);
        Assert.Null(message.Checkpoint.Step);
        Assert.Equal(8, message.Checkpoint.Size);
    }

    [Fact]
    public async Task A_checkpoint_pruned_locally_is_deleted_from_the_store()
    {
        var bucket = await moto.CreateBucketAsync();
        await moto.PutTextAsync(bucket, "ckpt/mnist/epoch-0001.ckpt", "one");
        var settings = Settings(0, attempt: 2);
        var job = Job(bucket);
        using (var stores = new ObjectStoreFactory(moto.Settings))
        {
            await new AgentInit(stores, _out).RunAsync(job, settings, CancellationToken.None);
        }

        var script = await ScriptAsync("""
            printf 'two!' > "$FERRY_OPT_ML/checkpoints/epoch-0002.ckpt"
            rm "$FERRY_OPT_ML/checkpoints/epoch-0001.ckpt"
            """);

        var (exit, message) = await ExecAsync(job, settings, script);

        Assert.Equal(0, exit);
        Assert.Equal(["ckpt/mnist/epoch-0002.ckpt"], await moto.KeysAsync(bucket, "ckpt/"));
        Assert.Equal(2, message.Checkpoint!.Epoch);
        Assert.Contains("checkpoint epoch 2 synced to s3://", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_checkpoint_directory_is_reported_as_a_whole_with_its_step()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(0);
        var job = Job(bucket);
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        var script = await ScriptAsync("""
            mkdir -p "$FERRY_OPT_ML/checkpoints/checkpoint-4200"
            printf '12345' > "$FERRY_OPT_ML/checkpoints/checkpoint-4200/model.safetensors"
            printf '678' > "$FERRY_OPT_ML/checkpoints/checkpoint-4200/optimizer.pt"
            """);

        var (_, message) = await ExecAsync(job, settings, script);

        Assert.Equal($"s3://{bucket}/ckpt/mnist/checkpoint-4200/", message.Checkpoint!.Uri);
        Assert.Equal(4200, message.Checkpoint.Step);
        Assert.Equal(8, message.Checkpoint.Size);
        Assert.Equal("step 4200", message.Checkpoint.Describe());
    }

    [Fact]
    public async Task A_failed_replica_reports_the_last_lines_with_secrets_masked_and_copies_its_full_log()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(1, attempt: 3);
        var job = Job(bucket, new Dictionary<string, string> { ["HF_TOKEN"] = "hf_secretvalue1234" });
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        var script = await ScriptAsync("""
            i=1
            while [ $i -le 30 ]; do echo "line $i"; i=$((i+1)); done
            echo "using token $HF_TOKEN and key AKIAABCDEFGHIJKLMNOP"
            echo "Traceback: RuntimeError: rank 1 exploded"
            exit 1
            """);

        var (exit, message) = await ExecAsync(job, settings, script);

        Assert.Equal(1, exit);
        var tail = message.LogTail!.Split('\n');
        Assert.Equal(ReplicaLog.TailLines, tail.Length);
        Assert.Equal("line 13", tail[0]);
        Assert.Equal("using token *** and key ***", tail[^2]);
        Assert.Equal("Traceback: RuntimeError: rank 1 exploded", tail[^1]);
        Assert.Equal($"s3://{bucket}/out/mnist/attempt-3/algo-2.log", message.Logs);
        var full = Encoding.UTF8.GetString(await moto.GetBytesAsync(bucket, "out/mnist/attempt-3/algo-2.log")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(32, full.Length);
        Assert.Equal("line 1", full[0]);
        Assert.DoesNotContain(full, l => l.Contains("hf_secretvalue1234", StringComparison.Ordinal));
        // The pod's own output is left as the process wrote it.
        Assert.Contains("hf_secretvalue1234", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_successful_replica_copies_its_log_but_sends_no_tail()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(1);
        var job = Job(bucket);
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);

        var (exit, message) = await ExecAsync(job, settings, await ScriptAsync("echo fine"));

        Assert.Equal(0, exit);
        Assert.Null(message.LogTail);
        Assert.Equal("fine\n", Encoding.UTF8.GetString(await moto.GetBytesAsync(bucket, "out/mnist/attempt-1/algo-2.log")));
    }

    [Fact]
    public void The_termination_message_fits_4096_bytes_giving_up_metrics_then_old_lines_then_the_failure_end()
    {
        var metrics = Enumerable.Range(0, 40).Select(i => new ObservedMetric($"metric-number-{i:D2}", i, DateTimeOffset.UnixEpoch)).ToList();
        var lines = Enumerable.Range(1, 20).Select(i => $"line {i} \"quoted\" <html> é " + new string('x', 90)).ToList();
        var message = new TerminationMessage(1, new string('f', 1024), metrics, "s3://b/out/job/output/model.tar.gz")
        {
            LogTail = ReplicaLog.Fit(lines, ReplicaLog.TailBytes),
            Logs = "s3://bucket/out/job/attempt-1/algo-1.log",
            Checkpoint = new CheckpointReport("s3://bucket/ckpt/job/epoch-0003.ckpt", 123456, DateTimeOffset.UnixEpoch, Epoch: 3),
        };

        var json = message.Serialize();
        var parsed = TerminationMessage.Parse(json, -1)!;

        Assert.InRange(Encoding.UTF8.GetByteCount(json), 3000, TerminationMessage.MaximumBytes);
        // Metrics give way first: the tail and the failure reason are whole.
        Assert.InRange(parsed.Metrics?.Count ?? 0, 0, metrics.Count - 1);
        Assert.Equal(1024, parsed.FailureReason!.Length);
        Assert.Equal(message.LogTail, parsed.LogTail);
        Assert.Equal(3, parsed.Checkpoint!.Epoch);
        Assert.Equal(message.Logs, parsed.Logs);

        var huge = message with { FailureReason = new string('\n', 1024), LogTail = string.Join('\n', Enumerable.Repeat("\"\"\"\"", 400)) };
        Assert.True(Encoding.UTF8.GetByteCount(huge.Serialize()) <= TerminationMessage.MaximumBytes);
    }

    [Theory]
    [InlineData(new[] { "a", "b", "c" }, 100, "a\nb\nc")]
    [InlineData(new[] { "aaaa", "bbbb", "cccc" }, 9, "bbbb\ncccc")]
    [InlineData(new[] { "aaaa", "bbbbbbbbbb" }, 4, "bbbb")]
    [InlineData(new[] { "é", "ééé" }, 5, "éé")]
    public void Fit_keeps_the_newest_lines_within_the_byte_bound(string[] lines, int maxBytes, string expected) =>
        Assert.Equal(expected, ReplicaLog.Fit(lines, maxBytes));

    [Theory]
    [InlineData("epoch-0003.ckpt", "epoch", 3L)]
    [InlineData("checkpoint-500", "step", 500L)]
    [InlineData("step_4200.pt", "step", 4200L)]
    [InlineData("model.pt", null, null)]
    [InlineData("resnet50.pt", null, null)]
    public void Checkpoint_names_carry_their_step_or_epoch(string name, string? kind, long? value) =>
        Assert.Equal((kind, value), CheckpointSync.NumberIn(name));

    [Fact]
    public void Redaction_masks_secret_variables_keys_and_assignments()
    {
        var redaction = new SecretRedaction([new("DB_PASSWORD", "hunter2-long"), new("EPOCHS", "100000")]);

        Assert.Equal("connect *** epochs 100000", redaction.Apply("connect hunter2-long epochs 100000"));
        Assert.Equal("Authorization: Bearer ***", redaction.Apply("Authorization: Bearer abcdefghijklmnop"));
        Assert.Equal("password=*** user=ann", redaction.Apply("password=p4ss user=ann"));
        Assert.Equal("id *** ok", redaction.Apply("id ASIAABCDEFGHIJKLMNOP ok"));
    }
}
