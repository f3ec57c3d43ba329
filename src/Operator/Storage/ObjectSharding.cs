using Ferry.Operator.Contract;

namespace Ferry.Operator.Storage;

/// <summary>Which objects of a channel a replica gets (SageMaker's S3DataDistributionType).</summary>
public static class ObjectSharding
{
    /// <summary>
    /// `FullyReplicated`: all objects. `ShardedByS3Key`: replica <paramref name="index"/> of <paramref name="count"/>
    /// gets every N-th object of the key-sorted list, starting at its index, so shards are disjoint and cover all.
    /// </summary>
    public static IReadOnlyList<StoredObject> Select(IReadOnlyList<StoredObject> objects, string distribution, int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        var sorted = objects.OrderBy(o => o.Key, StringComparer.Ordinal).ToArray();
        return distribution switch
        {
            ContainerContract.FullyReplicated or "" => sorted,
            ContainerContract.ShardedByS3Key => sorted.Where((_, position) => position % count == index).ToArray(),
            _ => throw new ArgumentException(
                $"distribution '{distribution}' is not supported; use {ContainerContract.FullyReplicated} or {ContainerContract.ShardedByS3Key}.",
                nameof(distribution)),
        };
    }
}
