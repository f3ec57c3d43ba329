using System.Text.Json.Nodes;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli;
using Ferry.Operator.Tests.Local;
using Ferry.Trainer.Data;
using Ferry.Trainer.Models;

namespace Ferry.Operator.Tests.Containers;

/// <summary>
/// `ferry run --mode container`: each replica is a container of spec.image (the trainer image `make images` built)
/// with SageMaker local mode's mounts, environment and host names.
/// </summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class ContainerModeTests : IDisposable
{
    private readonly LocalRun _run = new("ferry-container-mode-");

    public void Dispose() => _run.Dispose();

    [ContainerFact]
    public async Task Two_replicas_train_in_containers_of_the_trainer_image_and_the_model_scores_what_training_reported()
    {
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: tiny-containers
            spec:
              backend: Local
              image: {{ContainerImages.Trainer}}
              inputs:
                - name: train
                  uri: file:///usr/share/datasets/fashion-mnist
                - name: test
                  uri: file:///usr/share/datasets/fashion-mnist
              output:
                uri: file://./artifacts
              resources:
                replicas: 2
              hyperParameters:
                model: mlp
                hidden_units: "32"
                epochs: "1"
                batch_size: "32"
                max_train_samples: "1024"
                max_test_samples: "256"
                log_interval: "4"
                seed: "7"
              stoppingCondition:
                maxRuntimeSeconds: 600
            """);

        var (exit, output, error) = await RunAsync(LocalRunMode.Container);

        Assert.True(exit == RunCommand.Complete, $"exit {exit}\n{output}\n{error}");
        Assert.Contains($"2 replica(s) in podman containers of {ContainerImages.Trainer} (hosts algo-1, algo-2), running train", output, StringComparison.Ordinal);
        Assert.Contains("[rank 0] gradients are averaged over tcp", output, StringComparison.Ordinal);
        var archive = _run.PathOf("artifacts/tiny-containers/output/model.tar.gz");
        Assert.Contains($"model: {archive}", output, StringComparison.Ordinal);

        var entries = await LocalRun.ReadArchiveAsync(archive);
        Assert.Equal(["model.json", "model.pt"], entries.Keys.Order(StringComparer.Ordinal));
        var description = JsonNode.Parse(entries["model.json"])!;
        Assert.Equal(2, (int)description["world_size"]!);
        var reported = (double)description["val_accuracy"]!;
        Assert.Matches($@"- name: val_accuracy\n    value: {reported:0.0###}", output);

        var unpacked = _run.PathOf("unpacked");
        Directory.CreateDirectory(unpacked);
        foreach (var (name, bytes) in entries)
        {
            await File.WriteAllBytesAsync(Path.Combine(unpacked, name), bytes);
        }

        using var model = TrainedModel.Load(unpacked);
        var (train, test) = FashionMnist.Load("/usr/share/datasets/fashion-mnist", "/usr/share/datasets/fashion-mnist", maxTrain: 1, maxTest: 256);
        using (train)
        using (test)
        {
            var (_, accuracy) = model.Evaluate(test);
            Assert.Equal(reported, accuracy, 3);
        }
    }

    [ContainerFact]
    public async Task Each_replica_sees_opt_ml_the_SM_variables_and_every_replica_by_its_algo_host_name()
    {
        // spec.command replaces the image's entrypoint (SageMaker's ContainerEntrypoint); the script reports what it sees.
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: layout
            spec:
              backend: Local
              image: {{ContainerImages.Trainer}}
              command: ["/bin/sh", "-c"]
              args:
                - |
                  set -e
                  {
                    echo "hostname=$(hostname) current=$SM_CURRENT_HOST rank=$RANK world=$WORLD_SIZE master=$MASTER_ADDR"
                    echo "model_dir=$SM_MODEL_DIR channel=$SM_CHANNEL_TRAIN hosts=$SM_HOSTS lr=$SM_HP_LEARNING_RATE"
                    for host in algo-1 algo-2; do getent hosts "$host"; done
                    cat /opt/ml/input/config/hyperparameters.json; echo
                    ls /opt/ml/input/data/train
                  } > "$SM_MODEL_DIR/seen-$RANK.txt"
              inputs:
                - name: train
                  uri: file:///usr/share/datasets/fashion-mnist
              output:
                uri: file://./artifacts
              resources:
                replicas: 2
              hyperParameters:
                learning_rate: "0.01"
            """);

        var (exit, output, error) = await RunAsync(LocalRunMode.Auto);

        Assert.True(exit == RunCommand.Complete, $"exit {exit}\n{output}\n{error}");
        for (var rank = 0; rank < 2; rank++)
        {
            var host = $"algo-{rank + 1}";
            var seen = await File.ReadAllTextAsync(Path.Combine(_run.WorkDirectory, "layout", "attempt-1", host, "model", $"seen-{rank}.txt"));
            Assert.Contains($"hostname={host} current={host} rank={rank} world=2 master=algo-1", seen, StringComparison.Ordinal);
            Assert.Contains("model_dir=/opt/ml/model channel=/opt/ml/input/data/train hosts=[\"algo-1\",\"algo-2\"] lr=0.01", seen, StringComparison.Ordinal);
            Assert.Matches(@"127\.0\.0\.1\s+algo-1", seen);
            Assert.Matches(@"127\.0\.0\.1\s+algo-2", seen);
            Assert.Contains("{\"learning_rate\":\"0.01\"}", seen, StringComparison.Ordinal);
            Assert.Contains("train-images-idx3-ubyte.gz", seen, StringComparison.Ordinal);
        }

        // Rank 0's model directory is what SageMaker packs.
        var entries = await LocalRun.ReadArchiveAsync(_run.PathOf("artifacts/layout/output/model.tar.gz"));
        Assert.Equal(["seen-0.txt"], entries.Keys);
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(LocalRunMode mode)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await RunCommand.RunAsync(
            new RunOptions(_run.PathOf("job.yaml"), Verbose: true, _run.WorkDirectory, _run.Directory, Mode: mode), output, error, live: false, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }
}
