using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Ferry.Operator.Agent;
using Ferry.Operator.Contract;
using Ferry.Operator.Storage;
using Ferry.Operator.Tests.Fixtures;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Agent;

[Collection(MotoCollection.Name)]
public sealed class AgentTests(MotoS3 moto) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("ferry-agent-").FullName;
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    public void Dispose()
    {
        Directory.Delete(_scratch, true);
        _out.Dispose();
        _err.Dispose();
    }

    private static AgentJob Job(string bucket, int replicas = 3, string distribution = "ShardedByS3Key") => new(
        JobName: "mnist",
        Replicas: replicas,
        GpusPerReplica: 0,
        CpusPerReplica: 1,
        HyperParameters: new Dictionary<string, string> { ["epochs"] = "2" },
        Inputs: [new AgentChannel("train", $"s3://{bucket}/data/train", distribution), new AgentChannel("test", $"s3://{bucket}/data/test")],
        OutputUri: $"s3://{bucket}/out",
        CheckpointUri: $"s3://{bucket}/ckpt/mnist",
        MetricDefinitions: [new AgentMetricDefinition("train:loss", @"loss=([0-9.eE+-]+)"), new AgentMetricDefinition("accuracy", @"accuracy=([0-9.]+)")]);

    private AgentSettings Settings(int index, string? root = null) => new(
        index,
        root ?? Path.Combine(_scratch, $"replica-{index}"),
        Path.Combine(_scratch, $"replica-{index}.termination-log"),
        StopGracePeriod: TimeSpan.FromSeconds(1),
        CheckpointSyncInterval: TimeSpan.FromMinutes(10));

    private async Task<string> ScriptAsync(string name, string body)
    {
        var path = Path.Combine(_scratch, name);
        await File.WriteAllTextAsync(path, "#!/bin/sh\n" + body + "\n");
        return path;
    }

    [Fact]
    public async Task Init_shards_by_key_disjointly_across_three_replicas_and_replicates_the_rest()
    {
        var bucket = await moto.CreateBucketAsync();
        var trainKeys = Enumerable.Range(0, 10).Select(i => $"part-{i:D2}.idx").ToArray();
        foreach (var key in trainKeys)
        {
            await moto.PutTextAsync(bucket, "data/train/" + key, key);
        }

        await moto.PutTextAsync(bucket, "data/test/t10k.idx", "test");
        await moto.PutTextAsync(bucket, "ckpt/mnist/step-5.pt", "checkpoint");
        using var stores = new ObjectStoreFactory(moto.Settings);
        var job = Job(bucket);

        var shards = new List<string[]>();
        for (var i = 0; i < 3; i++)
        {
            var settings = Settings(i);
            Assert.Equal(0, await new AgentInit(stores, _out).RunAsync(job, settings, CancellationToken.None));
            var channel = Path.Combine(settings.Root, "input/data/train");
            shards.Add([.. Directory.EnumerateFiles(channel).Select(Path.GetFileName).Order(StringComparer.Ordinal)!]);
            Assert.Equal("test", await File.ReadAllTextAsync(Path.Combine(settings.Root, "input/data/test/t10k.idx")));
            Assert.Equal("checkpoint", await File.ReadAllTextAsync(Path.Combine(settings.Root, "checkpoints/step-5.pt")));
            var resource = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(settings.Root, "input/config/resourceconfig.json")))!;
            Assert.Equal($"algo-{i + 1}", (string?)resource["current_host"]);
            Assert.True(File.Exists(Path.Combine(settings.Root, "input/config/hyperparameters.json")));
            Assert.True(File.Exists(Path.Combine(settings.Root, "input/config/inputdataconfig.json")));
            Assert.True(Directory.Exists(Path.Combine(settings.Root, "model")));
            Assert.True(Directory.Exists(Path.Combine(settings.Root, "output/data")));
        }

        Assert.Equal(["part-00.idx", "part-03.idx", "part-06.idx", "part-09.idx"], shards[0]);
        Assert.Equal(["part-01.idx", "part-04.idx", "part-07.idx"], shards[1]);
        Assert.Equal(["part-02.idx", "part-05.idx", "part-08.idx"], shards[2]);
        Assert.Equal(trainKeys, shards.SelectMany(s => s).Order(StringComparer.Ordinal));
        Assert.Empty(shards[0].Intersect(shards[1]).Concat(shards[0].Intersect(shards[2])).Concat(shards[1].Intersect(shards[2])));
    }

    [Fact]
    public async Task Init_reports_a_missing_bucket_with_the_field()
    {
        using var stores = new ObjectStoreFactory(moto.Settings);
        var job = Job("no-such-bucket-anywhere");
        var error = await Assert.ThrowsAsync<IOException>(() => new AgentInit(stores, _out).RunAsync(job, Settings(0), CancellationToken.None));
        Assert.StartsWith("spec.inputs[0].uri 's3://no-such-bucket-anywhere/data/train': ", error.Message, StringComparison.Ordinal);
        Assert.Contains("bucket", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Exec_success_on_replica_zero_uploads_model_output_and_checkpoints_and_reports_metrics()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(0);
        var job = Job(bucket, replicas: 1);
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        var train = await ScriptAsync("train.sh", """
            echo "epoch 1 loss=0.9 accuracy=0.5"
            echo "epoch 2 loss=0.25 accuracy=0.875"
            echo "a warning on stderr" >&2
            mkdir -p "$SM_MODEL_DIR/weights"
            printf 'w' > "$SM_MODEL_DIR/weights/model.bin"
            printf '{"rank":%s}' "$RANK" > "$SM_MODEL_DIR/meta.json"
            printf 'predictions' > "$SM_OUTPUT_DATA_DIR/preds.txt"
            printf 'ck' > "$FERRY_OPT_ML/checkpoints/step-2.pt"
            """);
        using var stores = new ObjectStoreFactory(moto.Settings);

        var exit = await new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", train], CancellationToken.None);

        Assert.Equal(0, exit);
        Assert.Contains("epoch 1 loss=0.9", _out.ToString(), StringComparison.Ordinal);
        Assert.Contains("a warning on stderr", _err.ToString(), StringComparison.Ordinal);
        var model = await moto.GetBytesAsync(bucket, "out/mnist/output/model.tar.gz");
        var modelFiles = await TarFilesAsync(model);
        Assert.Equal(["meta.json", "weights/model.bin"], modelFiles.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("w", modelFiles["weights/model.bin"]);
        Assert.Equal("{\"rank\":0}", modelFiles["meta.json"]);
        Assert.Equal("predictions", (await TarFilesAsync(await moto.GetBytesAsync(bucket, "out/mnist/output/output.tar.gz")))["preds.txt"]);
        Assert.Equal("ck"u8.ToArray(), await moto.GetBytesAsync(bucket, "ckpt/mnist/step-2.pt"));
        var message = TerminationMessage.Parse(await File.ReadAllTextAsync(settings.TerminationMessagePath), -1)!;
        Assert.Equal(0, message.ExitCode);
        Assert.Null(message.FailureReason);
        Assert.Equal("s3://" + bucket + "/out/mnist/output/model.tar.gz", message.Model);
        Assert.Equal([("accuracy", 0.875), ("train:loss", 0.25)], message.Metrics!.Select(m => (m.Name, m.Value)));
    }

    [Fact]
    public async Task Exec_on_other_replicas_does_not_upload_the_model()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(1);
        var job = Job(bucket, replicas: 2);
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        var train = await ScriptAsync("train.sh", "printf x > \"$SM_MODEL_DIR/m\"");
        using var stores = new ObjectStoreFactory(moto.Settings);

        Assert.Equal(0, await new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", train], CancellationToken.None));
        Assert.Empty(await moto.KeysAsync(bucket, "out/mnist/output/"));
    }

    [Fact]
    public async Task Exec_failure_puts_the_first_1024_bytes_of_the_failure_file_in_the_termination_message()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(0);
        var job = Job(bucket, replicas: 1);
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        var train = await ScriptAsync("train.sh", """
            printf 'CUDA out of memory: ' > "$FERRY_OPT_ML/output/failure"
            head -c 2000 /dev/zero | tr '\0' 'x' >> "$FERRY_OPT_ML/output/failure"
            exit 3
            """);
        using var stores = new ObjectStoreFactory(moto.Settings);

        var exit = await new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", train], CancellationToken.None);

        Assert.Equal(3, exit);
        var message = TerminationMessage.Parse(await File.ReadAllTextAsync(settings.TerminationMessagePath), -1)!;
        Assert.Equal(3, message.ExitCode);
        Assert.StartsWith("CUDA out of memory: xxx", message.FailureReason, StringComparison.Ordinal);
        Assert.Equal(1024, message.FailureReason!.Length);
        // No model after a failure; the training report is written whatever the outcome.
        Assert.Equal(["out/mnist/output/report.html"], await moto.KeysAsync(bucket, "out/mnist/output/"));
    }

    [Fact]
    public async Task Exec_failure_without_a_failure_file_says_so()
    {
        var settings = Settings(0);
        var job = Job("unused", replicas: 1) with { OutputUri = null, CheckpointUri = null };
        using var stores = new ObjectStoreFactory(moto.Settings);

        var exit = await new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", "-c", "exit 5"], CancellationToken.None);

        Assert.Equal(5, exit);
        var message = TerminationMessage.Parse(await File.ReadAllTextAsync(settings.TerminationMessagePath), -1)!;
        Assert.Equal("'sh' exited with code 5 and wrote no output/failure.", message.FailureReason);
    }

    [Fact]
    public async Task Exec_of_a_missing_command_fails_with_127_and_names_the_command()
    {
        var settings = Settings(0);
        var job = Job("unused", replicas: 1) with { OutputUri = null, CheckpointUri = null };
        using var stores = new ObjectStoreFactory(moto.Settings);

        var exit = await new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["/no/such/train"], CancellationToken.None);

        Assert.Equal(127, exit);
        var message = TerminationMessage.Parse(await File.ReadAllTextAsync(settings.TerminationMessagePath), -1)!;
        Assert.Contains("/no/such/train", message.FailureReason, StringComparison.Ordinal);
        Assert.Contains("spec.command", message.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_forwards_sigterm_and_kills_a_process_that_ignores_it_after_the_grace_period()
    {
        var settings = Settings(0) with { StopGracePeriod = TimeSpan.FromSeconds(1) };
        var job = Job("unused", replicas: 1) with { OutputUri = null, CheckpointUri = null };
        var marker = Path.Combine(_scratch, "started");
        var train = await ScriptAsync("stubborn.sh", $"""
            trap 'echo got-term' TERM
            touch '{marker}'
            while true; do sleep 0.1; done
            """);
        using var stores = new ObjectStoreFactory(moto.Settings);
        using var stop = new CancellationTokenSource();

        var run = new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", train], stop.Token);
        await WaitUntilAsync(() => File.Exists(marker));
        var stopped = Stopwatch.StartNew();
        await stop.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(137, exit);
        Assert.True(stopped.Elapsed >= TimeSpan.FromSeconds(0.9), $"killed after {stopped.Elapsed}, before the grace period");
        Assert.Contains("got-term", _out.ToString(), StringComparison.Ordinal);
        var message = TerminationMessage.Parse(await File.ReadAllTextAsync(settings.TerminationMessagePath), -1)!;
        Assert.Contains("was stopped", message.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_lets_a_process_that_honours_sigterm_exit_by_itself()
    {
        var settings = Settings(0) with { StopGracePeriod = TimeSpan.FromSeconds(60) };
        var job = Job("unused", replicas: 1) with { OutputUri = null, CheckpointUri = null };
        var marker = Path.Combine(_scratch, "started");
        var train = await ScriptAsync("polite.sh", $"""
            trap 'echo bye; exit 0' TERM
            touch '{marker}'
            while true; do sleep 0.1; done
            """);
        using var stores = new ObjectStoreFactory(moto.Settings);
        using var stop = new CancellationTokenSource();

        var run = new AgentExec(stores, _out, _err, TimeProvider.System).RunAsync(job, settings, ["sh", train], stop.Token);
        await WaitUntilAsync(() => File.Exists(marker));
        await stop.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("bye", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checkpoints_are_uploaded_periodically_while_training_runs()
    {
        var bucket = await moto.CreateBucketAsync();
        var settings = Settings(0) with { CheckpointSyncInterval = TimeSpan.FromMinutes(5) };
        var job = Job(bucket, replicas: 1) with { OutputUri = null };
        await ContractWriter.WriteAsync(job.ToContractJob(), settings.ToContractReplica(job), CancellationToken.None);
        var written = Path.Combine(_scratch, "written");
        var release = Path.Combine(_scratch, "release");
        var train = await ScriptAsync("train.sh", $"""
            printf 'step-100' > "$FERRY_OPT_ML/checkpoints/step-100.pt"
            touch '{written}'
            while [ ! -e '{release}' ]; do sleep 0.05; done
            """);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(T0);
        using var stores = new ObjectStoreFactory(moto.Settings);

        var run = new AgentExec(stores, _out, _err, time).RunAsync(job, settings, ["sh", train], CancellationToken.None);
        await WaitUntilAsync(() => File.Exists(written));
        Assert.Empty(await moto.KeysAsync(bucket, "ckpt/"));

        time.Advance(TimeSpan.FromMinutes(5));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await moto.KeysAsync(bucket, "ckpt/")).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the periodic checkpoint upload did not happen");
            await Task.Delay(50);
        }

        Assert.False(run.IsCompleted, "the upload must happen while the process still runs");
        await File.WriteAllTextAsync(release, "");
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("step-100"u8.ToArray(), await moto.GetBytesAsync(bucket, "ckpt/mnist/step-100.pt"));
    }

    [Fact]
    public async Task An_empty_model_directory_packs_to_a_valid_empty_archive()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_scratch, "empty")).FullName;
        var archive = Path.Combine(_scratch, "empty.tar.gz");
        await AgentExec.PackAsync(empty, archive, CancellationToken.None);
        Assert.Empty(await TarFilesAsync(await File.ReadAllBytesAsync(archive)));
    }

    [Fact]
    public void Termination_message_keeps_within_4096_bytes_by_dropping_metrics()
    {
        var metrics = Enumerable.Range(0, 200).Select(i => new ObservedMetric($"metric-{i:D3}", i, DateTimeOffset.UnixEpoch)).ToArray();
        var json = new TerminationMessage(1, new string('f', 1024), metrics).Serialize();
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(json), 3000, TerminationMessage.MaximumBytes);
        var parsed = TerminationMessage.Parse(json, 1)!;
        Assert.Equal(new string('f', 1024), parsed.FailureReason);
        Assert.Equal("metric-000", parsed.Metrics![0].Name);
    }

    [Fact]
    public void A_plain_text_termination_message_is_the_failure_reason()
    {
        Assert.Equal(new TerminationMessage(2, "Segmentation fault"), TerminationMessage.Parse("Segmentation fault\n", 2));
        Assert.Null(TerminationMessage.Parse("", 0));
    }

    [Fact]
    public void Job_description_round_trips_through_json()
    {
        var job = Job("b");
        var parsed = AgentJob.Deserialize(job.Serialize());
        Assert.Equal(job.JobName, parsed.JobName);
        Assert.Equal(job.Inputs, parsed.Inputs);
        Assert.Equal(job.MetricDefinitions, parsed.MetricDefinitions);
        Assert.Equal("2", parsed.HyperParameters["epochs"]);
        var error = Assert.Throws<FormatException>(() => AgentJob.Deserialize("{not json"));
        Assert.Contains("FERRY_JOB", error.Message, StringComparison.Ordinal);
    }

    private static async Task<Dictionary<string, string>> TarFilesAsync(byte[] archive)
    {
        var files = new Dictionary<string, string>();
        await using var gzip = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
        await using var reader = new TarReader(gzip);
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                using var text = new StreamReader(entry.DataStream!);
                files[entry.Name.TrimStart('.', '/')] = await text.ReadToEndAsync();
            }
        }

        return files;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the training process to start");
            await Task.Delay(20);
        }
    }
}
