using Ferry.Trainer.Contract;
using Ferry.Trainer.Data;
using Ferry.Trainer.Distributed;
using Ferry.Trainer.Models;
using Ferry.Trainer.Tests.Fixtures;
using Ferry.Trainer.Training;
using TorchSharp;

namespace Ferry.Trainer.Tests.Training;

public sealed class CheckpointResumeTests
{
    private static HyperParameters Hp(string optimizer, int epochs) => HyperParameters.FromValues(new Dictionary<string, string>
    {
        ["model"] = "mlp",
        ["hidden_units"] = "24",
        ["optimizer"] = optimizer,
        ["batch_size"] = "32",
        ["epochs"] = epochs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["log_interval"] = "1000",
    }, _ => { });

    private static TrainingResult Train(HyperParameters hp, ImageDataset train, ImageDataset test, string checkpoints, TextWriter? log = null)
    {
        using var single = RingAllReduce.Single();
        return new DataParallelTrainer(hp, single, torch.CPU, checkpoints, log ?? TextWriter.Null).Run(train, test);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void A_restarted_run_resumes_from_the_latest_checkpoint_and_ends_bit_identical(string optimizer)
    {
        using var dir = new TempDirectory();
        var channel = SyntheticFashionMnist.Channel(dir.Path, trainCount: 320, testCount: 50);
        var (train, test) = FashionMnist.Load(channel, null);
        using (train)
        using (test)
        {
            var uninterrupted = Train(Hp(optimizer, epochs: 3), train, test, Path.Combine(dir.Path, "a"));

            // The interrupted run stops after epoch 1; its restart (same directory) must pick up at epoch 2.
            var resumedDir = Path.Combine(dir.Path, "b");
            var first = Train(Hp(optimizer, epochs: 1), train, test, resumedDir);
            Assert.NotEqual(uninterrupted.ParameterHash, first.ParameterHash);
            var log = new StringWriter();
            var resumed = Train(Hp(optimizer, epochs: 3), train, test, resumedDir, log);

            Assert.Equal(1, resumed.ResumedFromEpoch);
            Assert.Contains("resumed from checkpoint epoch 1", log.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("epoch=1 ", log.ToString(), StringComparison.Ordinal);
            Assert.Equal(uninterrupted.GlobalStep, resumed.GlobalStep);
            Assert.Equal(uninterrupted.ParameterHash, resumed.ParameterHash);
            Assert.Equal(uninterrupted.ValAccuracy, resumed.ValAccuracy);

            // Only the latest checkpoint is kept.
            Assert.Equal("epoch-0003.ckpt", Path.GetFileName(Assert.Single(Directory.GetFiles(resumedDir))));
        }
    }

    [Fact]
    public void A_checkpoint_for_another_model_is_refused_with_a_message_naming_it()
    {
        using var dir = new TempDirectory();
        var channel = SyntheticFashionMnist.Channel(dir.Path, trainCount: 64, testCount: 20);
        var (train, test) = FashionMnist.Load(channel, null);
        using (train)
        using (test)
        {
            var checkpoints = Path.Combine(dir.Path, "ck");
            Train(Hp("sgd", 1), train, test, checkpoints);
            var error = Assert.Throws<TrainerConfigurationException>(() => Train(Hp("adam", 2), train, test, checkpoints));
            Assert.Contains("epoch-0001.ckpt", error.Message, StringComparison.Ordinal);
            Assert.Contains("checkpoint_dir", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_saved_model_loads_back_and_scores_what_training_reported()
    {
        using var dir = new TempDirectory();
        var channel = SyntheticFashionMnist.Channel(dir.Path, trainCount: 320, testCount: 100);
        var (train, test) = FashionMnist.Load(channel, null);
        using (train)
        using (test)
        {
            using var single = RingAllReduce.Single();
            var hp = Hp("adam", 2);
            var trainer = new DataParallelTrainer(hp, single, torch.CPU, Path.Combine(dir.Path, "ck"), TextWriter.Null);
            var result = trainer.Run(train, test);
            var modelDir = Path.Combine(dir.Path, "model");
            TrainedModel.Save(modelDir, trainer.Model!, new ModelDescription(ModelDescription.CurrentFormat, trainer.Spec, [1, 28, 28], FashionMnist.Mean,
                FashionMnist.StandardDeviation, FashionMnist.Classes, hp.Raw, hp.Epochs, 1, result.ValLoss, result.ValAccuracy));

            using var loaded = TrainedModel.Load(modelDir);
            Assert.Equal(trainer.Spec, loaded.Description.Architecture);
            Assert.Equal("adam", loaded.Description.HyperParameters["optimizer"]);
            var (loss, accuracy) = loaded.Evaluate(test);
            Assert.Equal(result.ValAccuracy, accuracy);
            Assert.Equal(result.ValLoss, loss, 6);
            Assert.True(accuracy > 0.5, $"accuracy {accuracy} on an easy synthetic set");
            Assert.Equal(test.Labels.data<long>().Take(10).Count(), loaded.Predict(test.Images.narrow(0, 0, 10)).Length);
        }
    }
}
