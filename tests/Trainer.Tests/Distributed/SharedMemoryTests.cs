using Ferry.Trainer.Distributed;
using Ferry.Trainer.Distributed.SharedMemory;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Distributed;

public sealed class SharedMemoryTests
{
    [Fact]
    public void Ranks_on_one_host_agree_on_shared_memory_and_leave_no_file_behind()
    {
        var rings = InProcessWorld.Connect(2);
        try
        {
            Assert.All(rings, r => Assert.Equal("shm", r.Transport));
            Assert.All(rings, r => Assert.Null(r.SharedMemoryUnavailableReason));
            var path = rings[0].SharedMemoryPath;
            Assert.NotNull(path);
            Assert.StartsWith(SharedMemoryRegion.Directory + "/ferry-allreduce-", path, StringComparison.Ordinal);
            Assert.Equal(path, rings[1].SharedMemoryPath); // both mapped rank 0's region
            Assert.False(File.Exists(path), $"{path} should be unlinked once every rank mapped it");

            // Still usable after the unlink, for buffers far larger than one chunk.
            var results = InProcessWorld.RunRanks(2, rank =>
            {
                var buffer = Enumerable.Range(0, 1_000_003).Select(i => (float)((i % 1000) + (rank * 2))).ToArray();
                rings[rank].AllReduceMean(buffer);
                return buffer;
            });
            Assert.Equal(results[0], results[1]);
            Assert.Equal(Enumerable.Range(0, 1_000_003).Select(i => (float)((i % 1000) + 1)), results[0]);
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
    public void Tcp_is_used_when_asked_for()
    {
        var rings = InProcessWorld.Connect(2, transport: CollectiveTransport.Tcp);
        try
        {
            Assert.All(rings, r => Assert.Equal("tcp", r.Transport));
            Assert.All(rings, r => Assert.Null(r.SharedMemoryPath));
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
    public void A_region_is_used_only_with_the_token_its_creator_wrote()
    {
        using var region = SharedMemoryRegion.Create(SharedMemoryRegion.HeaderBytes * 2, worldSize: 2);
        try
        {
            var name = Path.GetFileName(region.Path);
            var token = region.Token.ToArray();
            using (var same = SharedMemoryRegion.Open(name, token, region.Length, worldSize: 2))
            {
                Assert.True(same.Token.SequenceEqual(token));
            }

            var wrong = (byte[])token.Clone();
            wrong[0] ^= 1;
            Assert.Throws<IOException>(() => SharedMemoryRegion.Open(name, wrong, region.Length, worldSize: 2));
            Assert.Throws<IOException>(() => SharedMemoryRegion.Open(name, token, region.Length, worldSize: 3));
            Assert.Throws<IOException>(() => SharedMemoryRegion.Open(name, token, region.Length * 2, worldSize: 2));
        }
        finally
        {
            region.Unlink();
        }

        // Another host (or a pod with its own /dev/shm) does not see the file at all.
        Assert.Throws<FileNotFoundException>(() => SharedMemoryRegion.Open(Path.GetFileName(region.Path), region.Token, region.Length, worldSize: 2));
        Assert.Throws<IOException>(() => SharedMemoryRegion.Open("../etc/passwd", region.Token, region.Length, worldSize: 2));
    }

    [Theory]
    [InlineData(null, CollectiveTransport.Auto)]
    [InlineData("tcp", CollectiveTransport.Tcp)]
    [InlineData("SHM", CollectiveTransport.Shm)]
    [InlineData("auto", CollectiveTransport.Auto)]
    public void The_transport_comes_from_the_environment(string? value, CollectiveTransport expected)
    {
        var env = new Dictionary<string, string?> { ["MASTER_ADDR"] = "h", ["WORLD_SIZE"] = "2", ["RANK"] = "1", ["FERRY_COLLECTIVE_TRANSPORT"] = value };
        Assert.Equal(expected, RendezvousSettings.FromEnvironment(k => env.GetValueOrDefault(k)).Transport);
    }

    [Fact]
    public void An_unknown_transport_names_the_variable_and_the_choices()
    {
        var env = new Dictionary<string, string?> { ["FERRY_COLLECTIVE_TRANSPORT"] = "rdma" };
        var error = Assert.Throws<TrainerConfigurationException>(() => RendezvousSettings.FromEnvironment(k => env.GetValueOrDefault(k)));
        Assert.Contains("FERRY_COLLECTIVE_TRANSPORT='rdma'", error.Message, StringComparison.Ordinal);
        Assert.Contains("auto", error.Message, StringComparison.Ordinal);
        Assert.Contains("tcp", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void A_futex_sleeper_is_woken_by_a_change_and_otherwise_times_out()
    {
        Assert.True(Futex.Supported);
        var word = (int*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(sizeof(int));
        try
        {
            // Nobody changes the word: the sleep lasts about its timeout.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Futex.Wait(word, 0, TimeSpan.FromMilliseconds(50));
            Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(40), $"returned after {clock.Elapsed}");

            // A value other than the expected one returns at once.
            clock.Restart();
            Futex.Wait(word, 1, TimeSpan.FromSeconds(10));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"returned after {clock.Elapsed}");

            // A waker that changes the word and wakes ends a long sleep early.
            var address = (nint)word;
            var started = new ManualResetEventSlim();
            var sleeper = new Thread(() =>
            {
                started.Set();
                Futex.Wait((int*)address, 0, TimeSpan.FromSeconds(20));
            });
            clock.Restart();
            sleeper.Start();
            Assert.True(started.Wait(TimeSpan.FromSeconds(10)));

            // Give the sleeper time to enter the kernel. If it has not yet, the wait returns at once because the
            // word has changed: the test then passes without exercising the wake-up, never the other way round.
            Thread.Sleep(200);
            Interlocked.Increment(ref *word);
            Futex.WakeAll(word);
            Assert.True(sleeper.Join(TimeSpan.FromSeconds(10)), "the sleeper was not woken");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"woken after {clock.Elapsed}");
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(word);
        }
    }
}
