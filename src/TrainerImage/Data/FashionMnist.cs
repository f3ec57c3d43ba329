using TorchSharp;

namespace Ferry.Trainer.Data;

/// <summary>One split of Fashion-MNIST as preloaded tensors: images [N,1,28,28] float32 (normalised), labels [N] int64.</summary>
public sealed class ImageDataset(torch.Tensor images, torch.Tensor labels) : IDisposable
{
    public torch.Tensor Images { get; } = images;

    public torch.Tensor Labels { get; } = labels;

    public int Count => (int)Labels.shape[0];

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>Finds and loads the Fashion-MNIST IDX files of the train and test channels.</summary>
public static class FashionMnist
{
    /// <summary>Mean of Fashion-MNIST training pixels in [0,1].</summary>
    public const float Mean = 0.2860f;

    /// <summary>Standard deviation of Fashion-MNIST training pixels in [0,1].</summary>
    public const float StandardDeviation = 0.3530f;

    /// <summary>The ten class names, in label order.</summary>
    public static readonly IReadOnlyList<string> Classes =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Loads <c>train-*</c> from <paramref name="trainDir"/> and <c>t10k-*</c> from <paramref name="testDir"/> (or, when absent, the train channel).</summary>
    public static (ImageDataset Train, ImageDataset Test) Load(string trainDir, string? testDir, int maxTrain = 0, int maxTest = 0)
    {
        if (!Directory.Exists(trainDir))
        {
            throw new TrainerConfigurationException(
                $"the train channel directory {trainDir} does not exist; provide an input channel named 'train' (SM_CHANNEL_TRAIN) holding train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz].");
        }

        var train = LoadSplit(trainDir, "train", "train", maxTrain);
        var testSearch = testDir is not null && HasSplit(testDir, "t10k") ? testDir : trainDir;
        if (!HasSplit(testSearch, "t10k"))
        {
            train.Dispose();
            throw new TrainerConfigurationException(
                $"no test set found: looked for t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] in {(testDir is null ? "" : testDir + " (test channel) and ")}{trainDir} (train channel); provide a 'test' channel with them.");
        }

        return (train, LoadSplit(testSearch, "t10k", testSearch == testDir ? "test" : "train", maxTest));
    }

    /// <summary>Converts raw pixels (0..255) to the normalised float32 tensor [N,1,28,28] the models expect.</summary>
    public static torch.Tensor Normalize(byte[] pixels, int count, int rows, int columns)
    {
        using var raw = torch.tensor(pixels, [count, 1, rows, columns], torch.ScalarType.Byte);
        using var scaled = raw.to_type(torch.ScalarType.Float32).div_(255f);
        return scaled.sub_(Mean).div_(StandardDeviation).clone();
    }

    private static bool HasSplit(string dir, string prefix) =>
        Find(dir, $"{prefix}-images-idx3-ubyte") is not null || Find(dir, $"{prefix}-labels-idx1-ubyte") is not null;

    private static string? Find(string dir, string baseName)
    {
        foreach (var name in new[] { baseName, baseName + ".gz" })
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    private static ImageDataset LoadSplit(string dir, string prefix, string channel, int max)
    {
        var imagesName = $"{prefix}-images-idx3-ubyte";
        var labelsName = $"{prefix}-labels-idx1-ubyte";
        var imagesPath = Find(dir, imagesName) ?? throw new TrainerConfigurationException(
            $"missing input file: {Path.Combine(dir, imagesName)}[.gz] not found in the {channel} channel ({dir}).");
        var labelsPath = Find(dir, labelsName) ?? throw new TrainerConfigurationException(
            $"missing input file: {Path.Combine(dir, labelsName)}[.gz] not found in the {channel} channel ({dir}).");

        var images = IdxReader.Read(imagesPath, 3);
        var labels = IdxReader.Read(labelsPath, 1);
        if (images.Count != labels.Count)
        {
            throw new TrainerConfigurationException(
                $"count mismatch: {imagesPath} holds {images.Count} images but {labelsPath} holds {labels.Count} labels; the two files must come from the same release.");
        }

        if (images.Dimensions[1] != 28 || images.Dimensions[2] != 28)
        {
            throw new TrainerConfigurationException($"input file {imagesPath} holds {images.Dimensions[1]}x{images.Dimensions[2]} images; Fashion-MNIST images are 28x28.");
        }

        var badLabel = Array.FindIndex(labels.Values, v => v > 9);
        if (badLabel >= 0)
        {
            throw new TrainerConfigurationException($"input file {labelsPath} is corrupt: label {badLabel} is {labels.Values[badLabel]}, but Fashion-MNIST labels are 0..9.");
        }

        var count = max > 0 ? Math.Min(max, images.Count) : images.Count;
        if (count == 0)
        {
            throw new TrainerConfigurationException($"input file {imagesPath} holds no images.");
        }

        var pixels = count == images.Count ? images.Values : images.Values[..(count * 28 * 28)];
        var labelValues = new long[count];
        for (var i = 0; i < count; i++)
        {
            labelValues[i] = labels.Values[i];
        }

        return new ImageDataset(Normalize(pixels, count, 28, 28), torch.tensor(labelValues));
    }
}
