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
