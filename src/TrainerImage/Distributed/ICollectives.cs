namespace Ferry.Trainer.Distributed;

/// <summary>The collective operations data-parallel training needs; every rank calls them in the same order.</summary>
public interface ICollectives : IDisposable
{
    /// <summary>This process's rank, 0-based.</summary>
    int Rank { get; }

    /// <summary>Number of ranks taking part.</summary>
    int WorldSize { get; }

    /// <summary>Replaces <paramref name="buffer"/> (a contiguous float32 tensor) with its element-wise mean over all ranks; the result is bit-identical on every rank.</summary>
    void AllReduceMean(TorchSharp.torch.Tensor buffer);

    /// <summary>Copies rank 0's <paramref name="buffer"/> (a contiguous tensor) into every other rank's.</summary>
    void Broadcast(TorchSharp.torch.Tensor buffer);

    /// <summary>Copies rank 0's bytes into every other rank's <paramref name="buffer"/>.</summary>
    void Broadcast(Span<byte> buffer);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();
}

/// <summary>A collective operation failed: a peer vanished, timed out or disagreed about the protocol.</summary>
public sealed class CollectiveException(string message, Exception? inner = null) : Exception(message, inner);
