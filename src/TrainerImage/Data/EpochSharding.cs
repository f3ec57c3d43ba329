namespace Ferry.Trainer.Data;

/// <summary>
/// The order in which a rank visits the training set in an epoch: a permutation of all samples seeded by
/// seed+epoch (so every rank computes the same one), of which rank r of n takes elements r, r+n, r+2n, ...,
/// truncated to a whole number of batches so all ranks take the same number of steps.
/// </summary>
public static class EpochSharding
{
    /// <summary>Steps per epoch for every rank.</summary>
    public static int StepsPerEpoch(int samples, int worldSize, int batchSize) => samples / worldSize / batchSize;

    /// <summary>The sample indices rank <paramref name="rank"/> trains on in <paramref name="epoch"/>, in order (StepsPerEpoch * batchSize of them).</summary>
    public static long[] ShardIndices(int samples, long seed, int epoch, int rank, int worldSize, int batchSize)
    {
        var permutation = Permutation(samples, seed + epoch);
        var take = StepsPerEpoch(samples, worldSize, batchSize) * batchSize;
        var shard = new long[take];
        for (var i = 0; i < take; i++)
        {
            shard[i] = permutation[rank + ((long)i * worldSize)];
        }

        return shard;
    }

    /// <summary>Fisher-Yates with SplitMix64: stable across runtimes and platforms, unlike System.Random's unseeded algorithm choice.</summary>
    public static int[] Permutation(int count, long seed)
    {
        var result = new int[count];
        for (var i = 0; i < count; i++)
        {
            result[i] = i;
        }

        var state = unchecked((ulong)seed);
        for (var i = count - 1; i > 0; i--)
        {
            var j = (int)(Next(ref state) % (ulong)(i + 1));
            (result[i], result[j]) = (result[j], result[i]);
        }

        return result;
    }

    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
