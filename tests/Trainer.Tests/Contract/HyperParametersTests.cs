using Ferry.Trainer.Contract;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Contract;

public sealed class HyperParametersTests
{
    [Fact]
    public void Defaults_follow_the_documented_values()
    {
        var hp = HyperParameters.FromValues(new Dictionary<string, string>(), _ => { });
        Assert.Equal((ModelKind.Cnn, OptimizerKind.Sgd, 0.05, 0.9, 64, 3, 42L, 256, 100, 1, 0.0),
            (hp.Model, hp.Optimizer, hp.LearningRate, hp.Momentum, hp.BatchSize, hp.Epochs, hp.Seed, hp.HiddenUnits, hp.LogInterval, hp.Threads, hp.WeightDecay));
        Assert.Equal(0.001, HyperParameters.FromValues(new Dictionary<string, string> { ["optimizer"] = "adam" }, _ => { }).LearningRate);
    }

    [Fact]
    public void The_file_accepts_sagemaker_json_encoded_strings_and_the_command_line_wins()
    {
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "hyperparameters.json");
        File.WriteAllText(file, """{"model": "\"mlp\"", "epochs": "5", "learning_rate": 0.2, "hidden_units": "\"2048\"", "batch_size": "32"}""");
        var warnings = new List<string>();
        var hp = HyperParameters.Load(file, ["--epochs", "7", "--batch-size=16"], warnings.Add);
        Assert.Equal((ModelKind.Mlp, 7, 0.2, 2048, 16), (hp.Model, hp.Epochs, hp.LearningRate, hp.HiddenUnits, hp.BatchSize));
        Assert.Empty(warnings);
        Assert.Equal("7", hp.Raw["epochs"]);
    }

    [Fact]
    public void The_cosine_schedule_starts_at_the_learning_rate_and_decays_per_epoch()
    {
        var cosine = HyperParameters.FromValues(new Dictionary<string, string> { ["learning_rate"] = "0.1", ["epochs"] = "4" }, _ => { });
        Assert.Equal(LearningRateSchedule.Cosine, cosine.LrSchedule);
        Assert.Equal([0.1, 0.0854, 0.05, 0.0146], Enumerable.Range(1, 4).Select(e => Math.Round(cosine.LearningRateAt(e), 4)));

        var constant = HyperParameters.FromValues(new Dictionary<string, string> { ["learning_rate"] = "0.1", ["epochs"] = "4", ["lr_schedule"] = "constant" }, _ => { });
        Assert.All(Enumerable.Range(1, 4), e => Assert.Equal(0.1, constant.LearningRateAt(e)));
    }

    [Fact]
    public void Unknown_names_warn_but_do_not_fail()
    {
        var warnings = new List<string>();
        var hp = HyperParameters.FromValues(new Dictionary<string, string> { ["dropout"] = "0.5", ["epochs"] = "2" }, warnings.Add);
        Assert.Equal(2, hp.Epochs);
        Assert.Contains("'dropout'", Assert.Single(warnings), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model", "resnet", "model='resnet'", "mlp|cnn")]
    [InlineData("optimizer", "rmsprop", "optimizer='rmsprop'", "sgd|adam")]
    [InlineData("batch_size", "0", "batch_size='0'", ">= 1")]
    [InlineData("global_batch_size", "0", "global_batch_size='0'", ">= 1")]
    [InlineData("learning_rate", "-1", "learning_rate='-1'", "> 0")]
    [InlineData("momentum", "1.5", "momentum='1.5'", "< 1")]
    [InlineData("epochs", "three", "epochs='three'", "integer")]
    [InlineData("lr_schedule", "step", "lr_schedule='step'", "cosine|constant")]
    public void Bad_values_name_the_hyperparameter_and_the_allowed_values(string name, string value, string named, string allowed)
    {
        var error = Assert.Throws<TrainerConfigurationException>(() => HyperParameters.FromValues(new Dictionary<string, string> { [name] = value }, _ => { }));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains(allowed, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(2, 32)]
    [InlineData(4, 16)]
    public void A_global_batch_is_split_evenly_over_the_ranks(int worldSize, int perRank)
    {
        var hp = HyperParameters.FromValues(new Dictionary<string, string> { ["global_batch_size"] = "64" }, _ => { });
        Assert.Equal(perRank, hp.BatchSizePerRank(worldSize));

        var perRankOnly = HyperParameters.FromValues(new Dictionary<string, string> { ["batch_size"] = "64" }, _ => { });
        Assert.Equal(64, perRankOnly.BatchSizePerRank(worldSize));
    }

    [Fact]
    public void A_global_batch_that_does_not_divide_over_the_ranks_names_the_field_and_a_fix()
    {
        var hp = HyperParameters.FromValues(new Dictionary<string, string> { ["global_batch_size"] = "100" }, _ => { });
        var error = Assert.Throws<TrainerConfigurationException>(() => hp.BatchSizePerRank(3));
        Assert.Contains("global_batch_size=100", error.Message, StringComparison.Ordinal);
        Assert.Contains("multiple of 3 (for example 99 or 102)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batch_size_and_global_batch_size_together_are_refused()
    {
        var error = Assert.Throws<TrainerConfigurationException>(() => HyperParameters.FromValues(
            new Dictionary<string, string> { ["batch_size"] = "32", ["global_batch_size"] = "64" }, _ => { }));
        Assert.Contains("batch_size='32'", error.Message, StringComparison.Ordinal);
        Assert.Contains("global_batch_size='64'", error.Message, StringComparison.Ordinal);
        Assert.Contains("only one", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("epochs")]
    [InlineData("-epochs")]
    public void Malformed_arguments_are_refused_with_the_expected_form(string argument)
    {
        var error = Assert.Throws<TrainerConfigurationException>(() => HyperParameters.Load(null, [argument], _ => { }));
        Assert.Contains("--", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Paths_follow_the_sagemaker_layout_under_the_root_override()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir.Path, "input", "data", "test"));
        var env = new Dictionary<string, string> { ["FERRY_OPT_ML"] = dir.Path };
        var paths = ContainerPaths.Resolve(k => env.GetValueOrDefault(k), null);
        Assert.Equal(Path.Combine(dir.Path, "input", "data", "train"), paths.TrainChannel);
        Assert.Equal(Path.Combine(dir.Path, "input", "data", "test"), paths.TestChannel);
        Assert.Equal(Path.Combine(dir.Path, "model"), paths.ModelDir);
        Assert.Equal(Path.Combine(dir.Path, "checkpoints"), paths.CheckpointDir);
        Assert.Equal(Path.Combine(dir.Path, "output", "failure"), paths.FailureFile);

        env["SM_CHANNEL_TRAIN"] = "/data/t";
        env["SM_MODEL_DIR"] = "/m";
        env["FERRY_CHECKPOINT_DIR"] = "/ck-env";
        var overridden = ContainerPaths.Resolve(k => env.GetValueOrDefault(k), null);
        Assert.Equal(("/data/t", "/m", "/ck-env"), (overridden.TrainChannel, overridden.ModelDir, overridden.CheckpointDir));
        Assert.Equal("/ck-hp", ContainerPaths.Resolve(k => env.GetValueOrDefault(k), "/ck-hp").CheckpointDir);
        Assert.Equal("/opt/ml", ContainerPaths.ResolveRoot(_ => null));
    }
}
