namespace Ferry.Trainer.Distributed;

/// <summary>Where a rank's ring listener can be reached.</summary>
public sealed record PeerAddress(int Rank, string Host, int Port)
{
    public override string ToString() => $"rank {Rank} at {Host}:{Port}";
}
