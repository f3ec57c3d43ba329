using Ferry.Operator.Storage;

namespace Ferry.Operator.Tests.Storage;

public sealed class ObjectShardingTests
{
    private static readonly StoredObject[] Objects =
        [.. new[] { "e", "a", "d", "b", "g", "c", "f" }.Select(k => new StoredObject(k, 1))];

    [Theory]
    [InlineData(0, "a,d,g")]
    [InlineData(1, "b,e")]
    [InlineData(2, "c,f")]
    public void Sharded_by_key_gives_every_nth_object_of_the_sorted_list(int index, string expected)
    {
        var shard = ObjectSharding.Select(Objects, "ShardedByS3Key", index, 3);
        Assert.Equal(expected, string.Join(',', shard.Select(o => o.Key)));
    }

    [Fact]
    public void Fully_replicated_gives_everything_sorted()
    {
        Assert.Equal("a,b,c,d,e,f,g", string.Join(',', ObjectSharding.Select(Objects, "FullyReplicated", 2, 3).Select(o => o.Key)));
    }

    [Fact]
    public void Unknown_distribution_names_the_choices()
    {
        var error = Assert.Throws<ArgumentException>(() => ObjectSharding.Select(Objects, "Random", 0, 1));
        Assert.Contains("ShardedByS3Key", error.Message, StringComparison.Ordinal);
    }
}
