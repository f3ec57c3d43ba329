using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Trainer.Models;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Process;

public sealed partial class TrainProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    [GeneratedRegex(@"^epoch=(\d+) step=(\d+) train_loss=([0-9.]+) val_loss=([0-9.]+) val_accuracy=([0-9.]+)$", RegexOptions.Multiline)]
    private static partial Regex EpochLine();

    [GeneratedRegex(@"^epoch=\d+ step=\d+ train_loss=[0-9.]+$", RegexOptions.Multiline)]
    private static partial Regex TrainLine();

    private static Dictionary<string, string> Torchrun(int rank, int port) => new()
    {
        ["MASTER_ADDR"] = "127.0.0.1",
        ["MASTER_PORT"] = port.ToString(CultureInfo.InvariantCulture),
        ["RANK"] = rank.ToString(CultureInfo.InvariantCulture),
        ["WORLD_SIZE"] = "2",
        ["FERRY_RENDEZVOUS_TIMEOUT_SECONDS"] = "60",
        ["FERRY_COLLECTIVE_TIMEOUT_SECONDS"] = "60",
    };

    [Fact]
    public void Two_train_processes_train_together_log_metrics_and_save_a_loadable_model()
    {
        using var dir = new TempDirectory();
        var roots = new[] { Path.Combine(dir.Path, "algo-1"), Path.Combine(dir.Path, "algo-2") };
        foreach (var root in roots)
        {
            SyntheticFashionMnist.Channel(root, trainCount: 512, testCount: 100);
            Directory.CreateDirectory(Path.Combine(root, "input", "config"));
            File.WriteAllText(Path.Combine(root, "input", "config", "hyperparameters.json"),
                """{"model": "\"mlp\"", "hidden_units": "32", "epochs": "2", "batch_size": "32", "log_interval": "4", "unknown_knob": "1"}""");
        }

        var port = InProcessWorld.FreePort();
        using var rank1 = new TrainProcess(roots[1], Torchrun(1, port));
        using var rank0 = new TrainProcess(roots[0], Torchrun(0, port));
        Assert.True(rank0.WaitForExit(Timeout) == 0, $"rank 0 failed:\n{rank0.Stderr}");
        Assert.True(rank1.WaitForExit(Timeout) == 0, $"rank 1 failed:\n{rank1.Stderr}");

        // 512 samples / 2 ranks / batch 32 = 8 steps per epoch, 16 in all.
        var epochs = EpochLine().Matches(rank0.Stdout);
        Assert.Equal(["1", "2"], epochs.Select(m => m.Groups[1].Value));
        Assert.Equal(["8", "16"], epochs.Select(m => m.Groups[2].Value));
        Assert.Equal(4, TrainLine().Matches(rank0.Stdout).Count); // steps 4, 8, 12, 16
        Assert.Contains("progress epoch=2/2 step=16/16", rank0.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("epoch=", rank1.Stdout, StringComparison.Ordinal);
        Assert.Contains("unknown hyperparameter 'unknown_knob'", rank0.Stderr, StringComparison.Ordinal);
        Assert.Contains("gradients are averaged over shm", rank0.Stdout, StringComparison.Ordinal); // two processes on one host
        Assert.Matches(@"all-reduce took \d+\.\d\d s of \d+\.\d\d s of training steps on rank 0 \(\d+\.\d %", rank0.Stdout);

        Assert.True(File.Exists(Path.Combine(roots[0], "checkpoints", "epoch-0002.ckpt")));
        Assert.False(Directory.Exists(Path.Combine(roots[1], "model")));
        using var model = TrainedModel.Load(Path.Combine(roots[0], "model"));
        Assert.Equal(2, model.Description.WorldSize);
        Assert.Equal(new ModelSpec(Ferry.Trainer.Contract.ModelKind.Mlp, 32), model.Description.Architecture);
        var (train, test) = Ferry.Trainer.Data.FashionMnist.Load(Path.Combine(roots[0], "input", "data", "train"), null);
        using (train)
        using (test)
        {
            var (_, accuracy) = model.Evaluate(test);
            Assert.Equal(double.Parse(epochs[^1].Groups[5].Value, CultureInfo.InvariantCulture), accuracy, 4);
        }
    }

    [Fact]
    public void A_corrupt_input_writes_the_failure_file_and_exits_non_zero()
    {
        using var dir = new TempDirectory();
        var channel = SyntheticFashionMnist.Channel(dir.Path, trainCount: 20, testCount: 10);
        var images = Path.Combine(channel, "train-images-idx3-ubyte.gz");
        File.Delete(images);
        SyntheticFashionMnist.WriteIdx(images, SyntheticFashionMnist.Header(0x1234, 20, 28, 28), new byte[20 * 784], gzip: true);

        using var train = new TrainProcess(dir.Path, new Dictionary<string, string>());
        Assert.NotEqual(0, train.WaitForExit(Timeout));
        var failure = File.ReadAllText(Path.Combine(dir.Path, "output", "failure"));
        Assert.Contains(images, failure, StringComparison.Ordinal);
        Assert.Contains("bad magic number", failure, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "model")));
    }

    [Fact]
    public void A_missing_input_or_bad_hyperparameter_fails_with_a_message_naming_it()
    {
        using var dir = new TempDirectory();
        using (var missing = new TrainProcess(dir.Path, new Dictionary<string, string>()))
        {
            Assert.NotEqual(0, missing.WaitForExit(Timeout));
        }

        Assert.Contains("train channel", File.ReadAllText(Path.Combine(dir.Path, "output", "failure")), StringComparison.Ordinal);

        SyntheticFashionMnist.Channel(dir.Path, trainCount: 20, testCount: 10);
        using (var bad = new TrainProcess(dir.Path, new Dictionary<string, string>(), "--optimizer", "lbfgs"))
        {
            Assert.NotEqual(0, bad.WaitForExit(Timeout));
        }

        Assert.Contains("optimizer='lbfgs'", File.ReadAllText(Path.Combine(dir.Path, "output", "failure")), StringComparison.Ordinal);
    }

    [Fact]
    public void When_a_rank_dies_the_other_fails_fast_naming_it()
    {
        using var dir = new TempDirectory();
        var root = Path.Combine(dir.Path, "shared");
        SyntheticFashionMnist.Channel(root, trainCount: 512, testCount: 20);
        var port = InProcessWorld.FreePort();
        string[] args = ["--model", "mlp", "--hidden_units", "16", "--epochs", "1000", "--batch_size", "8", "--log_interval", "1"];
        using var rank1 = new TrainProcess(root, Torchrun(1, port), args);
        using var rank0 = new TrainProcess(root, Torchrun(0, port), args);
        Assert.True(rank0.WaitForOutput("progress epoch=1/1000 step=2/", Timeout), $"training never started:\n{rank0.Stderr}\n{rank1.Stderr}");

        rank1.Kill();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.NotEqual(0, rank0.WaitForExit(Timeout));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"rank 0 took {clock.Elapsed} to notice (collective timeout is 60 s)");
        var failure = File.ReadAllText(Path.Combine(root, "output", "failure"));
        Assert.Contains("rank 1 at", failure, StringComparison.Ordinal);
        Assert.Contains("(rank 0 of 2)", failure, StringComparison.Ordinal);
    }
}
