using System.Diagnostics;
using Ferry.Trainer.Distributed;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ferry.Trainer.Training;

/// <summary>One synchronous data-parallel step: local forward/backward into the flat gradient buffer, all-reduce (mean), optimiser step.</summary>
public sealed class DataParallelStep : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly TorchSharp.Modules.OptimizerHelper _optimizer;
    private readonly ICollectives _collectives;

    public DataParallelStep(nn.Module<Tensor, Tensor> model, TorchSharp.Modules.OptimizerHelper optimizer, FlatGradients gradients, ICollectives collectives)
    {
        _model = model;
        _optimizer = optimizer;
        Gradients = gradients;
        _collectives = collectives;
    }

    public FlatGradients Gradients { get; }

    /// <summary>Time spent in the gradient all-reduce so far, waiting for slower ranks included.</summary>
    public TimeSpan AllReduceTime { get; private set; }

    /// <summary>Runs one step on this rank's batch and returns the loss averaged over all ranks.</summary>
    public float Run(Tensor images, Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        Gradients.Zero();
        var logits = _model.forward(images);
        var loss = nn.functional.cross_entropy(logits, labels);
        loss.backward();
        Gradients.LossSlot.copy_(loss.detach().reshape(1));
        var start = Stopwatch.GetTimestamp();
        _collectives.AllReduceMean(Gradients.Buffer);
        AllReduceTime += Stopwatch.GetElapsedTime(start);
        _optimizer.step();
        return Gradients.LossSlot.item<float>();
    }

    /// <summary>Copies rank 0's parameters to every rank.</summary>
    public static void BroadcastParameters(nn.Module model, ICollectives collectives)
    {
        using var noGrad = torch.no_grad();
        foreach (var parameter in model.parameters())
        {
            collectives.Broadcast(parameter);
        }
    }

    public void Dispose() => Gradients.Dispose();
}

/// <summary>Fingerprints of a model's parameters, to prove ranks hold bit-identical weights.</summary>
public static class ParameterHash
{
    /// <summary>SHA-256 over every parameter's bytes, in registration order.</summary>
    public static string Of(nn.Module model)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var parameter in model.parameters())
        {
            using var cpu = parameter.detach().cpu().contiguous();
            hash.AppendData(cpu.bytes);
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
