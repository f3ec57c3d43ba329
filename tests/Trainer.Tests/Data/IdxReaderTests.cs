using Ferry.Trainer.Data;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Data;

public sealed class IdxReaderTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reads_gzipped_and_plain_files_and_normalises_pixels(bool gzip)
    {
        using var dir = new TempDirectory();
        SyntheticFashionMnist.Write(dir.Path, "train", 30, seed: 3, gzip);
        SyntheticFashionMnist.Write(dir.Path, "t10k", 20, seed: 4, gzip);
        var (train, test) = FashionMnist.Load(dir.Path, testDir: null, maxTrain: 25);
        using (train)
        using (test)
        {
            Assert.Equal(25, train.Count);
            Assert.Equal(20, test.Count);
            Assert.Equal([25L, 1, 28, 28], train.Images.shape);
            Assert.Equal(Enumerable.Range(0, 25).Select(i => (long)(i % 10)), train.Labels.data<long>().ToArray());
            var raw = IdxReader.Read(Path.Combine(dir.Path, $"train-images-idx3-ubyte{(gzip ? ".gz" : "")}"), 3);
            var expected = ((raw.Values[0] / 255f) - FashionMnist.Mean) / FashionMnist.StandardDeviation;
            Assert.Equal(expected, train.Images.flatten()[0].item<float>(), 5);
        }
    }

    [Fact]
    public void The_test_channel_is_preferred_when_present()
    {
        using var dir = new TempDirectory();
        var trainDir = Path.Combine(dir.Path, "train");
        var testDir = Path.Combine(dir.Path, "test");
        SyntheticFashionMnist.Write(trainDir, "train", 10, 1);
        SyntheticFashionMnist.Write(trainDir, "t10k", 10, 1);
        SyntheticFashionMnist.Write(testDir, "t10k", 7, 1);
        var (train, test) = FashionMnist.Load(trainDir, testDir);
        using (train)
        using (test)
        {
            Assert.Equal(7, test.Count);
        }
    }

    [Fact]
    public void Bad_magic_is_reported_with_the_file_name()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "train-images-idx3-ubyte");
        SyntheticFashionMnist.WriteIdx(path, SyntheticFashionMnist.Header(0x801, 2), new byte[2], gzip: false);
        var error = Assert.Throws<TrainerConfigurationException>(() => IdxReader.Read(path, 3));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("bad magic number 0x00000801", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_file_is_reported_with_the_file_name()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "train-images-idx3-ubyte.gz");
        SyntheticFashionMnist.WriteIdx(path, SyntheticFashionMnist.Header(0x803, 10, 28, 28), new byte[5 * 784], gzip: true);
        var error = Assert.Throws<TrainerConfigurationException>(() => IdxReader.Read(path, 3));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_gzip_stream_is_reported_with_the_file_name()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "train-labels-idx1-ubyte.gz");
        File.WriteAllBytes(path, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        var error = Assert.Throws<TrainerConfigurationException>(() => IdxReader.Read(path, 1));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_and_label_counts_must_match()
    {
        using var dir = new TempDirectory();
        SyntheticFashionMnist.Write(dir.Path, "train", 10, 1);
        SyntheticFashionMnist.WriteIdx(Path.Combine(dir.Path, "train-labels-idx1-ubyte.gz"), SyntheticFashionMnist.Header(0x801, 9), new byte[9], gzip: true);
        SyntheticFashionMnist.Write(dir.Path, "t10k", 5, 1);
        var error = Assert.Throws<TrainerConfigurationException>(() => FashionMnist.Load(dir.Path, null));
        Assert.Contains("count mismatch", error.Message, StringComparison.Ordinal);
        Assert.Contains("10 images", error.Message, StringComparison.Ordinal);
        Assert.Contains("9 labels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_files_and_channels_are_named()
    {
        using var dir = new TempDirectory();
        var missingChannel = Assert.Throws<TrainerConfigurationException>(() => FashionMnist.Load(Path.Combine(dir.Path, "nope"), null));
        Assert.Contains("train channel", missingChannel.Message, StringComparison.Ordinal);

        SyntheticFashionMnist.Write(dir.Path, "train", 10, 1);
        var noTest = Assert.Throws<TrainerConfigurationException>(() => FashionMnist.Load(dir.Path, null));
        Assert.Contains("t10k-images-idx3-ubyte", noTest.Message, StringComparison.Ordinal);

        File.Delete(Path.Combine(dir.Path, "train-labels-idx1-ubyte.gz"));
        SyntheticFashionMnist.Write(dir.Path, "t10k", 5, 1);
        var missingLabels = Assert.Throws<TrainerConfigurationException>(() => FashionMnist.Load(dir.Path, null));
        Assert.Contains("train-labels-idx1-ubyte", missingLabels.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_rank_takes_a_disjoint_equal_shard_of_the_same_permutation()
    {
        var shards = Enumerable.Range(0, 3).Select(rank => EpochSharding.ShardIndices(100, seed: 42, epoch: 2, rank, 3, batchSize: 8)).ToArray();
        Assert.All(shards, s => Assert.Equal(32, s.Length)); // 100/3 = 33 per rank -> 4 whole batches of 8
        Assert.Equal(96, shards.SelectMany(s => s).Distinct().Count());
        Assert.Equal(EpochSharding.ShardIndices(100, 42, 2, 1, 3, 8), shards[1]);
        Assert.NotEqual(EpochSharding.ShardIndices(100, 42, 3, 1, 3, 8), shards[1]);
    }
}
