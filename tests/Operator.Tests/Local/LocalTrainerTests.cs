using System.Text.Json.Nodes;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli;
using Ferry.Trainer.Data;
using Ferry.Trainer.Models;

namespace Ferry.Operator.Tests.Local;

/// <summary>
/// `ferry run` with no spec.command runs the trainer this repository builds (src/TrainerImage), data-parallel over two
/// processes, and the model arrives as model.tar.gz in SageMaker's layout. The trainer must be built
/// (`make test` builds the solution first; alone: `dotnet build src/TrainerImage`).
/// </summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalTrainerTests : IDisposable
{
    private readonly LocalRun _run = new("ferry-local-trainer-");

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task A_tiny_two_rank_run_of_the_built_trainer_completes_with_a_model_archive()
    {
        var trainer = LocalPrograms.Trainer();
        Assert.True(File.Exists(trainer.LeadingArguments.FirstOrDefault() ?? trainer.FileName), $"trainer not found: {trainer}");
        _run.Manifest("""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: tiny
            spec:
              backend: Local
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

        var (exit, output, error) = await _run.RunCommandAsync(verbose: true);

        Assert.True(exit == RunCommand.Complete, $"exit {exit}\n{output}\n{error}");
        Assert.Contains("rank 0: epoch 1/1 step 16/16 (100 %)", output, StringComparison.Ordinal);
        Assert.Matches(@"\[rank 0\] epoch=1 step=16 train_loss=[0-9.]+ val_loss=[0-9.]+ val_accuracy=[0-9.]+", output);
        Assert.Matches(@"- name: val_accuracy\n    value: 0\.\d+", output);
        var archive = _run.PathOf("artifacts/tiny/output/model.tar.gz");
        Assert.Contains($"model: {archive}", output, StringComparison.Ordinal);

        var entries = await LocalRun.ReadArchiveAsync(archive);
        Assert.Equal(["model.json", "model.pt"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.True(entries["model.pt"].Length > 1000, "model.pt holds the weights");
        var description = JsonNode.Parse(entries["model.json"])!;
        Assert.Equal("ferry-model/v1", (string?)description["format"]);
        Assert.Equal(2, (int)description["world_size"]!);
        Assert.Equal(1, (int)description["epochs"]!);
        Assert.InRange((double)description["val_accuracy"]!, 0.1, 1.0);

        // The archive's contents load back into the network and score on the test samples what training reported.
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
            Assert.Equal((double)description["val_accuracy"]!, accuracy, 3);
        }
    }
}
