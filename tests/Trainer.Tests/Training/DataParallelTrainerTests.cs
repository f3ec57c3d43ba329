using Ferry.Trainer.Contract;
using Ferry.Trainer.Data;
using Ferry.Trainer.Tests.Fixtures;
using Ferry.Trainer.Training;
using TorchSharp;

namespace Ferry.Trainer.Tests.Training;

public sealed class DataParallelTrainerTests
{
    [Fact]
    public void Three_ranks_running_the_full_loop_hold_identical_parameters_after_every_step()
    {
        using var dir = new TempDirectory();
        var channel = SyntheticFashionMnist.Channel(dir.Path, trainCount: 300, testCount: 30);
        var (train, test) = FashionMnist.Load(channel, null);
        using (train)
        using (test)
        {
            var hp = HyperParameters.FromValues(new Dictionary<string, string>
            {
                ["model"] = "cnn", ["optimizer"] = "adam", ["batch_size"] = "10", ["epochs"] = "2", ["log_interval"] = "5", ["max_train_samples"] = "300",
            }, _ => { });
            var rings = InProcessWorld.Connect(3);
            try
            {
                var results = InProcessWorld.RunRanks(3, rank =>
                {
                    var hashes = new List<string>();
                    var log = new StringWriter();
                    var trainer = new DataParallelTrainer(hp, rings[rank], torch.CPU, Path.Combine(dir.Path, "ck"), log)
                    {
                        AfterStep = (_, model) => hashes.Add(ParameterHash.Of(model)),
                    };
                    var result = trainer.Run(train, test);
                    return (hashes, log: log.ToString(), result);
                });

                // 300 samples / 3 ranks / batch 10 = 10 steps per epoch.
                Assert.All(results, r => Assert.Equal(20, r.hashes.Count));
                Assert.Equal(20, results[0].hashes.Distinct().Count()); // every step changed the weights
                Assert.Equal(results[0].hashes, results[1].hashes);
                Assert.Equal(results[0].hashes, results[2].hashes);
                Assert.Contains("epoch=2 step=20 train_loss=", results[0].log, StringComparison.Ordinal);
                Assert.Equal("", results[1].log); // only rank 0 prints
                Assert.True(File.Exists(Path.Combine(dir.Path, "ck", "epoch-0002.ckpt")));
                Assert.All(results, r => Assert.InRange(r.result.AllReduceSeconds, 1e-7, r.result.TrainingSeconds)); // timed, and part of the steps
            }
            finally
            {
                foreach (var ring in rings)
                {
                    ring.Dispose();
                }
            }
        }
    }

    [Fact]
    public void One_and_two_ranks_with_the_same_global_batch_train_the_same_model()
    {
        using var dir = new TempDirectory();
        var channel = SyntheticFashionMnist.Channel(dir.Path, trainCount: 240, testCount: 30);
        var (train, test) = FashionMnist.Load(channel, null);
        using (train)
        using (test)
        {
            var hp = HyperParameters.FromValues(new Dictionary<string, string>
            {
                ["model"] = "mlp", ["hidden_units"] = "32", ["global_batch_size"] = "24", ["epochs"] = "2", ["log_interval"] = "5",
            }, _ => { });

            float[] Parameters(TorchSharp.torch.nn.Module model) =>
                [.. model.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray())];

            using var single = Ferry.Trainer.Distributed.RingAllReduce.Single();
            var alone = new DataParallelTrainer(hp, single, torch.CPU, Path.Combine(dir.Path, "ck1"), TextWriter.Null);
            var aloneResult = alone.Run(train, test);
            var reference = Parameters(alone.Model!);

            var rings = InProcessWorld.Connect(2);
            try
            {
                var results = InProcessWorld.RunRanks(2, rank =>
                {
                    var trainer = new DataParallelTrainer(hp, rings[rank], torch.CPU, Path.Combine(dir.Path, $"ck2-{rank}"), TextWriter.Null);
                    var result = trainer.Run(train, test);
                    return (result, parameters: Parameters(trainer.Model!));
                });

                // 240 samples / global batch 24 = 10 steps per epoch either way, 12 samples per rank per step with 2 ranks.
                Assert.Equal(20, aloneResult.GlobalStep);
                Assert.All(results, r => Assert.Equal(20, r.result.GlobalStep));
                Assert.Equal(results[0].result.ParameterHash, results[1].result.ParameterHash);
                using var initial = Ferry.Trainer.Models.ModelFactory.Create(alone.Spec, hp.Seed);
                Assert.NotEqual(ParameterHash.Of(initial), aloneResult.ParameterHash); // training moved the weights

                // The same samples per step and the mean of two half-batch means: equal up to float summation order.
                var maxDifference = results[0].parameters.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(maxDifference < 1e-4, $"max |2 ranks - 1 rank| = {maxDifference}");
            }
            finally
            {
                foreach (var ring in rings)
                {
                    ring.Dispose();
                }
            }
        }
    }
}
