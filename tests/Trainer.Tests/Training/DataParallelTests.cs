using Ferry.Trainer.Contract;
using Ferry.Trainer.Data;
using Ferry.Trainer.Distributed;
using Ferry.Trainer.Models;
using Ferry.Trainer.Tests.Fixtures;
using Ferry.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ferry.Trainer.Tests.Training;

public sealed class DataParallelTests
{
    private static readonly ModelSpec Mlp = new(ModelKind.Mlp, HiddenUnits: 32);

    private static ImageDataset Dataset(int count)
    {
        using var dir = new TempDirectory();
        SyntheticFashionMnist.Write(dir.Path, "train", count, seed: 5);
        SyntheticFashionMnist.Write(dir.Path, "t10k", 10, seed: 6);
        var (train, test) = FashionMnist.Load(dir.Path, null);
        test.Dispose();
        return train;
    }

    private static (List<string> Hashes, float[] Parameters) Train(ICollectives collectives, ImageDataset data, long initSeed, int batchSize, int steps)
    {
        using var model = ModelFactory.Create(Mlp, initSeed);
        var parameters = model.parameters().ToList();
        using var optimizer = torch.optim.SGD(parameters, learningRate: 0.1, momentum: 0);
        using var step = new DataParallelStep(model, optimizer, new FlatGradients(parameters, torch.CPU), collectives);
        DataParallelStep.BroadcastParameters(model, collectives);
        var shard = EpochSharding.ShardIndices(data.Count, seed: 11, epoch: 1, collectives.Rank, collectives.WorldSize, batchSize);
        var hashes = new List<string>();
        for (var s = 0; s < steps; s++)
        {
            using var index = torch.tensor(shard[(s * batchSize)..((s + 1) * batchSize)]);
            using var images = data.Images.index_select(0, index);
            using var labels = data.Labels.index_select(0, index);
            step.Run(images, labels);
            hashes.Add(ParameterHash.Of(model));
        }

        var flat = parameters.SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();
        return (hashes, flat);
    }

    [Fact]
    public void Two_ranks_with_batch_b_match_one_rank_with_batch_2b_and_stay_bit_identical_every_step()
    {
        using var data = Dataset(256);
        const int batch = 16, steps = 6;
        var rings = InProcessWorld.Connect(2);
        try
        {
            // Different initial weights per rank: the start-up broadcast must make rank 1 adopt rank 0's.
            var ranks = InProcessWorld.RunRanks(2, rank => Train(rings[rank], data, initSeed: 7 + rank, batch, steps));
            using var single = RingAllReduce.Single();
            var reference = Train(single, data, initSeed: 7, 2 * batch, steps);

            Assert.Equal(steps, ranks[0].Hashes.Count);
            Assert.Equal(ranks[0].Hashes, ranks[1].Hashes); // bit-identical after every step
            Assert.Equal(ranks[0].Parameters.Length, reference.Parameters.Length);
            var maxDifference = ranks[0].Parameters.Zip(reference.Parameters, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDifference < 1e-5, $"max |2x{batch} - 1x{2 * batch}| = {maxDifference}");

            // And training moved the weights (the comparison is not between two untouched initialisations).
            using var initial = ModelFactory.Create(Mlp, 7);
            var start = initial.parameters().SelectMany(p => p.detach().data<float>().ToArray()).ToArray();
            Assert.True(start.Zip(reference.Parameters, (a, b) => Math.Abs(a - b)).Max() > 1e-3);
        }
        finally
        {
            foreach (var ring in rings)
            {
                ring.Dispose();
            }
        }
    }

    [Fact]
    public void Backward_accumulates_straight_into_the_flat_buffer()
    {
        using var data = Dataset(20);
        using var model = ModelFactory.Create(Mlp, 1);
        var parameters = model.parameters().ToList();
        using var gradients = new FlatGradients(parameters, torch.CPU);
        Assert.Equal(parameters.Sum(p => p.NumberOfElements) + 1, gradients.Buffer.NumberOfElements);

        using var logits = model.forward(data.Images);
        using var loss = nn.functional.cross_entropy(logits, data.Labels);
        loss.backward();

        var start = (long)Distributed.TensorMemoryProbe.Address(gradients.Buffer);
        long offset = 0;
        foreach (var parameter in parameters)
        {
            using var grad = parameter.grad!;
            Assert.Equal(start + (offset * sizeof(float)), (long)Distributed.TensorMemoryProbe.Address(grad));
            offset += parameter.NumberOfElements;
        }

        using var norm = gradients.Buffer.abs().sum();
        Assert.True(norm.item<float>() > 0, "backward wrote no gradient into the flat buffer");
        gradients.Zero();
        using var zero = gradients.Buffer.abs().sum();
        Assert.Equal(0f, zero.item<float>());
    }
}
