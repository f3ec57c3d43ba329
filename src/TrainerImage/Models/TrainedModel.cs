using System.Text.Json;
using Ferry.Trainer.Data;
using Ferry.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ferry.Trainer.Models;

/// <summary>What <c>model.json</c> says about <c>model.pt</c>: the architecture, the preprocessing and the hyperparameters it was trained with.</summary>
public sealed record ModelDescription(
    string Format,
    ModelSpec Architecture,
    int[] InputShape,
    float InputMean,
    float InputStd,
    IReadOnlyList<string> Classes,
    IReadOnlyDictionary<string, string> HyperParameters,
    int Epochs,
    int WorldSize,
    double? ValLoss,
    double? ValAccuracy)
{
    /// <summary>The value of <see cref="Format"/> this version writes.</summary>
    public const string CurrentFormat = "ferry-model/v1";
}

/// <summary>A model saved by <c>train</c> (<c>model.pt</c> in TorchSharp's format plus <c>model.json</c>), loaded back for inference.</summary>
public sealed class TrainedModel : IDisposable
{
    /// <summary>File name of the weights in the model directory.</summary>
    public const string WeightsFile = "model.pt";

    /// <summary>File name of the description in the model directory.</summary>
    public const string DescriptionFile = "model.json";

    private TrainedModel(nn.Module<Tensor, Tensor> network, ModelDescription description)
    {
        Network = network;
        Description = description;
    }

    public nn.Module<Tensor, Tensor> Network { get; }

    public ModelDescription Description { get; }

    /// <summary>Loads <c>model.json</c> and <c>model.pt</c> from <paramref name="directory"/> (an unpacked model.tar.gz or SM_MODEL_DIR).</summary>
    public static TrainedModel Load(string directory)
    {
        var descriptionPath = Path.Combine(directory, DescriptionFile);
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(descriptionPath) || !File.Exists(weightsPath))
        {
            throw new FileNotFoundException($"{directory} does not hold a trained model: expected {DescriptionFile} and {WeightsFile} written by train.", File.Exists(descriptionPath) ? weightsPath : descriptionPath);
        }

        var description = JsonSerializer.Deserialize<ModelDescription>(File.ReadAllText(descriptionPath), Checkpoints.Json)
            ?? throw new InvalidDataException($"{descriptionPath} is empty.");
        if (description.Format != ModelDescription.CurrentFormat)
        {
            throw new InvalidDataException($"{descriptionPath} has format '{description.Format}'; this loader reads '{ModelDescription.CurrentFormat}'.");
        }

        var network = ModelFactory.Create(description.Architecture, seed: 0);
        network.load(weightsPath);
        network.eval();
        return new TrainedModel(network, description);
    }

    /// <summary>Writes <c>model.pt</c> and <c>model.json</c> into <paramref name="directory"/>, each through a temp file and a rename.</summary>
    public static void Save(string directory, nn.Module model, ModelDescription description)
    {
        Directory.CreateDirectory(directory);
        var weights = Path.Combine(directory, WeightsFile);
        var weightsTemp = weights + ".tmp";
        model.save(weightsTemp);
        File.Move(weightsTemp, weights, overwrite: true);
        var json = Path.Combine(directory, DescriptionFile);
        File.WriteAllText(json + ".tmp", JsonSerializer.Serialize(description, Checkpoints.Json));
        File.Move(json + ".tmp", json, overwrite: true);
    }

    /// <summary>Predicted class indices for raw 28x28 images (pixel bytes, row-major, count*784 of them).</summary>
    public long[] Predict(byte[] pixels, int count)
    {
        using var images = FashionMnist.Normalize(pixels, count, 28, 28);
        return Predict(images);
    }

    /// <summary>Predicted class indices for normalised images [N,1,28,28].</summary>
    public long[] Predict(Tensor images)
    {
        using var noGrad = torch.no_grad();
        using var logits = Network.forward(images);
        using var predicted = logits.argmax(1);
        return predicted.data<long>().ToArray();
    }

    /// <summary>Mean loss and accuracy on a dataset.</summary>
    public (double Loss, double Accuracy) Evaluate(ImageDataset data) => DataParallelTrainer.Evaluate(Network, data, torch.CPU);

    public void Dispose() => Network.Dispose();
}
