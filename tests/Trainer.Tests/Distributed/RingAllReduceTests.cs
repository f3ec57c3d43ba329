using System.Diagnostics;
using Ferry.Trainer.Distributed;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Distributed;

public sealed class RingAllReduceTests
{
    private static float Value(int rank, int index) => ((rank + 1) * 0.37f) + (index % 13) - (rank * index % 7 * 0.11f);

    [Theory]
    [InlineData(1, 1000, CollectiveTransport.Auto)]
    [InlineData(2, 1, CollectiveTransport.Auto)]
    [InlineData(2, 2, CollectiveTransport.Auto)]
    [InlineData(2, 10_001, CollectiveTransport.Auto)]
    [InlineData(3, 2, CollectiveTransport.Auto)]
    [InlineData(3, 1, CollectiveTransport.Auto)]
    [InlineData(3, 10_007, CollectiveTransport.Auto)]
    [InlineData(4, 3, CollectiveTransport.Auto)]
    [InlineData(4, 25_013, CollectiveTransport.Auto)]
    [InlineData(4, 0, CollectiveTransport.Auto)]
    [InlineData(2, 1, CollectiveTransport.Tcp)]
    [InlineData(2, 10_001, CollectiveTransport.Tcp)]
    [InlineData(3, 10_007, CollectiveTransport.Tcp)]
    [InlineData(4, 25_013, CollectiveTransport.Tcp)]
    [InlineData(4, 0, CollectiveTransport.Tcp)]
    public void Mean_is_correct_and_bit_identical_on_every_rank(int worldSize, int length, CollectiveTransport transport)
    {
        // 4 KB chunks: buffers span many chunks (and shared-memory rounds) and segments split unevenly.
        var rings = InProcessWorld.Connect(worldSize, chunkBytes: 4096, transport: transport);
        try
        {
            var expectedTransport = worldSize == 1 ? "none" : transport == CollectiveTransport.Tcp ? "tcp" : "shm";
            Assert.All(rings, r => Assert.Equal(expectedTransport, r.Transport));
            var results = InProcessWorld.RunRanks(worldSize, rank =>
            {
                var buffer = new float[length];
                for (var i = 0; i < length; i++)
                {
                    buffer[i] = Value(rank, i);
                }

                rings[rank].AllReduceMean(buffer);
                rings[rank].AllReduceMean(buffer); // the mean of equal buffers is itself: a second call must keep them
                return buffer;
            });

            for (var i = 0; i < length; i++)
            {
                double expected = 0;
                for (var rank = 0; rank < worldSize; rank++)
                {
                    expected += Value(rank, i);
                }

                expected /= worldSize;
                Assert.True(Math.Abs(results[0][i] - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)), $"element {i}: {results[0][i]} != {expected}");
            }

            foreach (var other in results.Skip(1))
            {
                Assert.Equal(results[0], other); // bit-identical
            }
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
    public void Broadcast_copies_rank_zero_bytes_everywhere()
    {
        var rings = InProcessWorld.Connect(3);
        try
        {
            var results = InProcessWorld.RunRanks(3, rank =>
            {
                var buffer = Enumerable.Range(0, 1001).Select(i => (byte)(rank == 0 ? i * 7 : 0)).ToArray();
                rings[rank].Broadcast(buffer);
                rings[rank].Barrier();
                return buffer;
            });
            var expected = Enumerable.Range(0, 1001).Select(i => (byte)(i * 7)).ToArray();
            Assert.All(results, r => Assert.Equal(expected, r));
        }
        finally
        {
            foreach (var ring in rings)
            {
                ring.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(CollectiveTransport.Auto)]
    [InlineData(CollectiveTransport.Tcp)]
    public void A_peer_that_disappears_makes_every_remaining_rank_fail_fast(CollectiveTransport transport)
    {
        // Collective timeout 20 s: failing well before it proves the failure propagates through closed sockets, not timeouts.
        var rings = InProcessWorld.Connect(4, collectiveTimeoutSeconds: 20, transport: transport);
        var clock = Stopwatch.StartNew();
        rings[2].Dispose(); // rank 2 dies
        var errors = InProcessWorld.RunRanks(3, i =>
        {
            var rank = new[] { 0, 1, 3 }[i];
            var error = Assert.Throws<CollectiveException>(() => rings[rank].AllReduceMean(new float[100_000]));
            rings[rank].Dispose();
            return error;
        }, TimeSpan.FromSeconds(60));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.All(errors, e => Assert.Matches(@"rank \d at 127\.0\.0\.1:\d+", e.Message));
        Assert.Contains(errors, e => e.Message.Contains("rank 2 at", StringComparison.Ordinal)); // rank 3 names the rank that died
    }

    [Theory]
    [InlineData(CollectiveTransport.Auto)]
    [InlineData(CollectiveTransport.Tcp)]
    public void A_peer_that_hangs_makes_the_others_fail_after_the_collective_timeout(CollectiveTransport transport)
    {
        var rings = InProcessWorld.Connect(3, collectiveTimeoutSeconds: 2, transport: transport);
        try
        {
            // Rank 2 is alive but never joins the all-reduce.
            var errors = InProcessWorld.RunRanks(2, rank => Assert.Throws<CollectiveException>(() => rings[rank].AllReduceMean(new float[10])), TimeSpan.FromSeconds(60));
            Assert.Contains(errors, e => e.Message.Contains("rank 2 at", StringComparison.Ordinal) && e.Message.Contains("FERRY_COLLECTIVE_TIMEOUT_SECONDS", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var ring in rings)
            {
                ring.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(CollectiveTransport.Auto)]
    [InlineData(CollectiveTransport.Tcp)]
    public void Ranks_that_disagree_on_the_buffer_size_get_a_clear_error_instead_of_garbage(CollectiveTransport transport)
    {
        var rings = InProcessWorld.Connect(2, collectiveTimeoutSeconds: 10, transport: transport);
        try
        {
            var errors = InProcessWorld.RunRanks(2, rank => Assert.Throws<CollectiveException>(() => rings[rank].AllReduceMean(new float[rank == 0 ? 100 : 101])));
            Assert.Contains(errors, e => e.Message.Contains("out of step", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var ring in rings)
            {
                ring.Dispose();
            }
        }
    }
}
