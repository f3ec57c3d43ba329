using System.Text;
using System.Text.Json.Nodes;
using Ferry.Operator.Cli;

namespace Ferry.Operator.Tests.Local;

/// <summary>A process the Local backend runs sees the container contract of DESIGN.md §3, exactly.</summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalContractTests : IDisposable
{
    private readonly LocalRun _run = new("ferry-local-contract-");

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task Each_replica_sees_the_SageMaker_files_and_variables_and_torchruns_rendezvous()
    {
        // Two objects per channel directory; train is sharded by key, test replicated.
        Directory.CreateDirectory(_run.PathOf("data/train"));
        Directory.CreateDirectory(_run.PathOf("data/test"));
        foreach (var name in new[] { "a.idx", "b.idx", "c.idx", "d.idx" })
        {
            await File.WriteAllTextAsync(_run.PathOf("data/train/" + name), name);
        }

        await File.WriteAllTextAsync(_run.PathOf("data/test/t10k.idx"), "test");
        var dump = _run.Script("dump.sh", """
            files=$(cd "$FERRY_OPT_ML" && find . | LC_ALL=C sort)
            echo "$files" > "$SM_MODEL_DIR/files.txt"
            env | sort > "$SM_MODEL_DIR/env.txt"
            for f in hyperparameters resourceconfig inputdataconfig; do cp "$FERRY_OPT_ML/input/config/$f.json" "$SM_MODEL_DIR/$f.json"; done
            """);
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: contract
            spec:
              backend: Local
              command: ["{{dump}}"]
              hyperParameters:
                epochs: "3"
                learning_rate: "0.1"
              env:
                EXTRA: "yes"
              inputs:
                - name: train
                  uri: file://./data/train
                  distribution: ShardedByS3Key
                - name: test
                  uri: file://./data/test
              output:
                uri: file://./out
              resources:
                replicas: 2
            """);

        var (exit, output, error) = await _run.RunCommandAsync();

        Assert.True(exit == RunCommand.Complete, $"exit {exit}\n{output}\n{error}");
        var roots = new[] { 0, 1 }.Select(i => Path.Combine(_run.WorkDirectory, "contract", "attempt-1", $"algo-{i + 1}")).ToArray();
        var ports = new HashSet<string>();
        for (var rank = 0; rank < 2; rank++)
        {
            var root = roots[rank];
            var model = Path.Combine(root, "model");
            var env = (await File.ReadAllLinesAsync(Path.Combine(model, "env.txt")))
                .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
            var shard = rank == 0 ? new[] { "a.idx", "c.idx" } : ["b.idx", "d.idx"];

            Assert.Equal(
                [
                    ".", "./checkpoints", "./input", "./input/config", "./input/config/hyperparameters.json",
                    "./input/config/inputdataconfig.json", "./input/config/resourceconfig.json", "./input/data",
                    "./input/data/test", "./input/data/test/t10k.idx", "./input/data/train",
                    $"./input/data/train/{shard[0]}", $"./input/data/train/{shard[1]}", "./model", "./output", "./output/data",
                    "./output/intermediate",
                ],
                await File.ReadAllLinesAsync(Path.Combine(model, "files.txt")));

            Assert.Equal("""{"epochs":"3","learning_rate":"0.1"}""", await File.ReadAllTextAsync(Path.Combine(model, "hyperparameters.json")));
            Assert.Equal($$"""{"current_group_name":"homogeneousCluster","current_host":"algo-{{rank + 1}}","current_instance_type":"local","hosts":["algo-1","algo-2"],"instance_groups":[{"hosts":["algo-1","algo-2"],"instance_group_name":"homogeneousCluster","instance_type":"local"}],"network_interface_name":"eth0"}""",
                await File.ReadAllTextAsync(Path.Combine(model, "resourceconfig.json")));
            Assert.Equal(
                """{"test":{"RecordWrapperType":"None","S3DistributionType":"FullyReplicated","TrainingInputMode":"File"},"train":{"RecordWrapperType":"None","S3DistributionType":"ShardedByS3Key","TrainingInputMode":"File"}}""",
                await File.ReadAllTextAsync(Path.Combine(model, "inputdataconfig.json")));

            Assert.Equal(model, env["SM_MODEL_DIR"]);
            Assert.Equal("""["test","train"]""", env["SM_CHANNELS"]);
            Assert.Equal(Path.Combine(root, "input/data/train"), env["SM_CHANNEL_TRAIN"]);
            Assert.Equal(Path.Combine(root, "input/data/test"), env["SM_CHANNEL_TEST"]);
            Assert.Equal("""{"epochs":3,"learning_rate":0.1}""", env["SM_HPS"]);
            Assert.Equal("3", env["SM_HP_EPOCHS"]);
            Assert.Equal("0.1", env["SM_HP_LEARNING_RATE"]);
            Assert.Equal("""["algo-1","algo-2"]""", env["SM_HOSTS"]);
            Assert.Equal($"algo-{rank + 1}", env["SM_CURRENT_HOST"]);
            Assert.Equal("0", env["SM_NUM_GPUS"]);
            Assert.True(int.Parse(env["SM_NUM_CPUS"], System.Globalization.CultureInfo.InvariantCulture) >= 1);
            Assert.Equal(Path.Combine(root, "output/data"), env["SM_OUTPUT_DATA_DIR"]);
            Assert.Equal(Path.Combine(root, "output"), env["SM_OUTPUT_DIR"]);
            Assert.Equal(Path.Combine(root, "input/config"), env["SM_INPUT_CONFIG_DIR"]);
            var training = JsonNode.Parse(env["SM_TRAINING_ENV"])!;
            Assert.Equal("contract", (string?)training["job_name"]);
            Assert.Equal(rank == 0, (bool)training["is_master"]!);
            Assert.Equal(model, (string?)training["model_dir"]);
            Assert.Equal(root, env["FERRY_OPT_ML"]);

            // torchrun's variables: one process per replica, rendezvous on this machine.
            Assert.Equal("127.0.0.1", env["MASTER_ADDR"]);
            ports.Add(env["MASTER_PORT"]);
            Assert.Equal("2", env["WORLD_SIZE"]);
            Assert.Equal(rank.ToString(System.Globalization.CultureInfo.InvariantCulture), env["RANK"]);
            Assert.Equal("0", env["LOCAL_RANK"]);
            Assert.Equal(env["RANK"], env["NODE_RANK"]);
            Assert.Equal("2", env["PET_NNODES"]);
            Assert.Equal(env["RANK"], env["PET_NODE_RANK"]);
            Assert.Equal("1", env["PET_NPROC_PER_NODE"]);
            Assert.Equal("yes", env["EXTRA"]);
        }

        // One free port per attempt, shared by its replicas, outside the ports the kernel hands out for bind(0) and
        // outgoing connections (the ranks' ring listeners bind port 0 and must never take rank 0's rendezvous port).
        var port = Assert.Single(ports);
        Assert.NotEqual("29500", port);
        var (low, high) = Backends.Local.LocalPrograms.EphemeralRange();
        var number = int.Parse(port, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(number < low || number > high, $"MASTER_PORT {number} is in the ephemeral range {low}-{high}");

        // Rank 0's model directory went to SageMaker's layout under output.uri.
        var archive = _run.PathOf("out/contract/output/model.tar.gz");
        Assert.Contains($"model: {archive}", output, StringComparison.Ordinal);
        var entries = await LocalRun.ReadArchiveAsync(archive);
        Assert.Contains("env.txt", entries.Keys);
        Assert.Contains("SM_CURRENT_HOST=algo-1", Encoding.UTF8.GetString(entries["env.txt"]), StringComparison.Ordinal);
        Assert.Contains("phase: Succeeded", output, StringComparison.Ordinal);
    }
}
