using System.Diagnostics;
using System.Text;

namespace Ferry.Trainer.Distributed.SharedMemory;

/// <summary>
/// All-reduce for ranks that share one host, through a region under /dev/shm instead of the TCP ring (as NCCL does
/// within a node): every byte is copied by user code at memory speed, with no system call and no kernel copy.
/// The buffer is cut into chunks; chunk j is reduced by rank j mod n. Each round handles n chunks in three
/// phases separated by per-rank counters in the region: every rank copies the chunks the others reduce into its
/// input slots; each rank sums its chunk over all ranks in rank order, scales it to the mean and writes it to its
/// own buffer and its output slot; every rank copies the others' outputs into its buffer. Each chunk is computed
/// once, so all ranks end bit-identical. Two slots per rank alternate between rounds, which the lockstep of the
/// counters makes safe to reuse. A rank that fails writes its reason into the region so the others stop at once.
/// </summary>
internal sealed unsafe class SharedMemoryAllReduce : IDisposable
{
    /// <summary>Largest chunk: large enough to amortise the synchronisation, small enough to stay in cache.</summary>
    public const int MaxChunkBytes = 2 * 1024 * 1024;

    /// <summary>Largest world size this transport serves; larger co-located groups use the TCP ring.</summary>
    public const int MaxWorldSize = 16;

    private const int MinChunkBytes = 4 * 1024;
    private const long RegionBudgetBytes = 32L * 1024 * 1024;
    private const int Slots = 2;
    private const int CounterBlockBytes = 128;

    // Fields of a rank's counter block, each written only by that rank.
    private const int CallField = 0;
    private const int LengthField = 1; // two of them, by call parity
    private const int WrittenField = 3;
    private const int ReducedField = 4;
    private const int WakeField = 5; // a 32-bit futex word bumped after every counter update
    private const int SleepersField = 6; // 32-bit count of ranks asleep on WakeField

    // Abort state in the header, after the identity written by SharedMemoryRegion.
    private const int AbortStateOffset = 64;
    private const int AbortLengthOffset = 68;
    private const int AbortReasonOffset = 128;
    private const int AbortReasonMaxBytes = 2048;

    private static readonly TimeSpan SpinBudget = TimeSpan.FromMicroseconds(50);
    private static readonly TimeSpan SleepSlice = TimeSpan.FromMilliseconds(5);

    private readonly SharedMemoryRegion _region;
    private readonly int _rank;
    private readonly int _worldSize;
    private readonly int _chunkFloats;
    private readonly byte* _data;
    private readonly IReadOnlyList<PeerAddress> _peers;
    private readonly TimeSpan _timeout;
    private readonly Func<string?> _peerHealth;
    private long _calls;
    private long _rounds;

    private SharedMemoryAllReduce(SharedMemoryRegion region, int rank, int worldSize, int chunkFloats, IReadOnlyList<PeerAddress> peers, TimeSpan timeout, Func<string?> peerHealth)
    {
        _region = region;
        _rank = rank;
        _worldSize = worldSize;
        _chunkFloats = chunkFloats;
        _data = region.Base + DataOffset(worldSize);
        _peers = peers;
        _timeout = timeout;
        _peerHealth = peerHealth;
    }

    /// <summary>Where the region's file was created.</summary>
    public string Path => _region.Path;

    /// <summary>Bytes of the region for a world of <paramref name="worldSize"/> with chunks of <paramref name="chunkFloats"/>.</summary>
    public static long RegionLength(int worldSize, int chunkFloats) => DataOffset(worldSize) + ((long)Slots * worldSize * (worldSize + 1) * chunkFloats * sizeof(float));

    private static long DataOffset(int worldSize) => SharedMemoryRegion.HeaderBytes + AlignUp((long)worldSize * CounterBlockBytes, 4096);

    private static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    /// <summary>The ring's chunk size, within what the region budget allows for this many ranks (a multiple of 64 bytes).</summary>
    private static int ChunkFloats(int worldSize, int requestedBytes)
    {
        var budget = RegionBudgetBytes / (Slots * worldSize * (worldSize + 1));
        var bytes = Math.Clamp(Math.Min(requestedBytes, budget), MinChunkBytes, MaxChunkBytes);
        return (int)(bytes / 64 * 64 / sizeof(float));
    }

    /// <summary>
    /// Sets up the region among the ranks of <paramref name="ring"/>, using the ring's TCP connections to agree:
    /// rank 0 creates it and broadcasts its name and token; each rank maps it and checks the token; only if every
    /// rank succeeded is it used (all or none). Returns null when it cannot be used, with the reason.
    /// </summary>
    public static SharedMemoryAllReduce? Join(RingAllReduce ring, IReadOnlyList<PeerAddress> peers, TimeSpan timeout, int chunkBytes, Func<string?> peerHealth, out string? reason)
    {
        var world = ring.WorldSize;
        var chunkFloats = ChunkFloats(world, chunkBytes);
        var length = RegionLength(world, chunkFloats);
        SharedMemoryRegion? region = null;
        reason = null;

        // Rank 0's offer: name length, name, token.
        var offer = new byte[128];
        if (!Futex.Supported)
        {
            reason = "shared memory needs Linux futexes on x64 or arm64";
        }
        else if (world > MaxWorldSize)
        {
            reason = $"{world} ranks are more than the shared-memory transport serves ({MaxWorldSize})";
        }
        else if (ring.Rank == 0)
        {
            try
            {
                region = SharedMemoryRegion.Create(length, world);
                var name = Encoding.ASCII.GetBytes(System.IO.Path.GetFileName(region.Path));
                offer[0] = (byte)name.Length;
                name.CopyTo(offer, 1);
                region.Token.CopyTo(offer.AsSpan(64));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
            {
                reason = $"rank 0 could not create a {length}-byte region in {SharedMemoryRegion.Directory}: {e.Message}";
            }
        }

        try
        {
            ring.Broadcast(offer);
            if (ring.Rank != 0 && reason is null)
            {
                if (offer[0] == 0)
                {
                    reason = $"rank 0 could not create a region in {SharedMemoryRegion.Directory}";
                }
                else
                {
                    var name = Encoding.ASCII.GetString(offer, 1, offer[0]);
                    try
                    {
                        region = SharedMemoryRegion.Open(name, offer.AsSpan(64, SharedMemoryRegion.TokenBytes), length, world);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
                    {
                        reason = $"rank {ring.Rank} cannot use rank 0's {SharedMemoryRegion.Directory}/{name} (not on the same host, or /dev/shm not shared): {e.Message}";
                    }
                }
            }

            // All or none: the mean of the flags is 1 only if every rank mapped the region.
            Span<float> flag = [region is null ? 0f : 1f];
            ring.AllReduceMean(flag);
            if (flag[0] != 1f)
            {
                reason ??= "another rank could not map the shared-memory region (see its log)";
                region?.Dispose();
                region = null;
            }
        }
        catch
        {
            region?.Dispose();
            region = null;
            throw;
        }
        finally
        {
            // Every rank has mapped it or given up: the name is no longer needed.
            if (ring.Rank == 0)
            {
                region?.Unlink();
                if (region is null)
                {
                    DeleteOwnOffer(offer);
                }
            }
        }

        return region is null ? null : new SharedMemoryAllReduce(region, ring.Rank, world, chunkFloats, peers, timeout, peerHealth);
    }

    private static void DeleteOwnOffer(byte[] offer)
    {
        if (offer[0] == 0)
        {
            return;
        }

        try
        {
            File.Delete(System.IO.Path.Combine(SharedMemoryRegion.Directory, Encoding.ASCII.GetString(offer, 1, offer[0])));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the name is random and the file small.
        }
    }

    /// <summary>Replaces <paramref name="buffer"/> with its element-wise mean over all ranks.</summary>
    public void AllReduceMean(float* buffer, long length)
    {
        // Announce the call and its length, and check that every rank makes the same one.
        _calls++;
        var parity = (int)(_calls & 1);
        Volatile.Write(ref *Counter(_rank, LengthField + parity), length);
        Publish(CallField, _calls);
        WaitForAll(CallField, _calls);
        for (var q = 0; q < _worldSize; q++)
        {
            var peerLength = Volatile.Read(ref *Counter(q, LengthField + parity));
            if (peerLength != length)
            {
                throw new CollectiveException(
                    $"{_peers[q]} is out of step with rank {_rank}: it started an all-reduce of {peerLength} elements while this rank started one of {length}; all ranks must run the same model and hyperparameters");
            }
        }

        var chunks = (length + _chunkFloats - 1) / _chunkFloats;
        var rounds = (chunks + _worldSize - 1) / _worldSize;
        var scale = 1f / _worldSize;
        for (long k = 0; k < rounds; k++)
        {
            var round = _rounds + k + 1;
            var slot = (int)(round % Slots);

            // Phase 1: hand every other rank the chunk it reduces.
            for (var q = 0; q < _worldSize; q++)
            {
                var chunk = q == _rank ? default : Chunk(buffer, length, (k * _worldSize) + q);
                if (!chunk.IsEmpty)
                {
                    chunk.CopyTo(Input(slot, _rank, q, chunk.Length));
                }
            }

            Publish(WrittenField, round);
            WaitForAll(WrittenField, round);

            // Phase 2: reduce this rank's chunk, in rank order, into the buffer and the output slot.
            var own = Chunk(buffer, length, (k * _worldSize) + _rank);
            if (!own.IsEmpty)
            {
                var output = Output(slot, _rank, own.Length);
                if (_worldSize == 2)
                {
                    var first = _rank == 0 ? own : Input(slot, 0, 1, own.Length);
                    var second = _rank == 1 ? own : Input(slot, 1, 0, own.Length);
                    VectorMath.SumThenScale(first, second, scale, own, output);
                }
                else
                {
                    (_rank == 0 ? own : Input(slot, 0, _rank, own.Length)).CopyTo(output);
                    for (var q = 1; q < _worldSize; q++)
                    {
                        VectorMath.Add(output, q == _rank ? own : Input(slot, q, _rank, own.Length));
                    }

                    VectorMath.ScaleThenCopy(output, scale, own);
                }
            }

            Publish(ReducedField, round);
            WaitForAll(ReducedField, round);

            // Phase 3: take the other ranks' results.
            for (var q = 0; q < _worldSize; q++)
            {
                var chunk = q == _rank ? default : Chunk(buffer, length, (k * _worldSize) + q);
                if (!chunk.IsEmpty)
                {
                    Output(slot, q, chunk.Length).CopyTo(chunk);
                }
            }
        }

        _rounds += rounds;
    }

    /// <summary>Tells every rank to stop waiting: this rank failed. The first reason wins.</summary>
    public void Abort(string reason)
    {
        var state = (int*)(_region.Base + AbortStateOffset);
        if (Interlocked.CompareExchange(ref *state, 1, 0) != 0)
        {
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(reason);
        var count = Math.Min(bytes.Length, AbortReasonMaxBytes);
        bytes.AsSpan(0, count).CopyTo(new Span<byte>(_region.Base + AbortReasonOffset, AbortReasonMaxBytes));
        Volatile.Write(ref *(int*)(_region.Base + AbortLengthOffset), count);
        Volatile.Write(ref *state, 2);
    }

    /// <summary>Chunk <paramref name="index"/> of the buffer; empty past its end (the last round may be partial).</summary>
    private Span<float> Chunk(float* buffer, long length, long index)
    {
        var start = index * _chunkFloats;
        return start >= length ? default : new Span<float>(buffer + start, (int)Math.Min(_chunkFloats, length - start));
    }

    private Span<float> Input(int slot, int from, int to, int count) => new(SlotBase(slot, from) + ((long)to * _chunkFloats), count);

    private Span<float> Output(int slot, int rank, int count) => new(SlotBase(slot, rank) + ((long)_worldSize * _chunkFloats), count);

    private float* SlotBase(int slot, int rank) => (float*)(_data + ((((long)slot * _worldSize) + rank) * (_worldSize + 1) * _chunkFloats * sizeof(float)));

    private long* Counter(int rank, int field) => (long*)(_region.Base + SharedMemoryRegion.HeaderBytes + ((long)rank * CounterBlockBytes) + (field * sizeof(long)));

    private void WaitForAll(int field, long target)
    {
        for (var q = 0; q < _worldSize; q++)
        {
            if (q != _rank)
            {
                WaitFor(q, field, target);
            }
        }
    }

    /// <summary>Sets one of this rank's counters and wakes the ranks asleep waiting on it.</summary>
    private void Publish(int field, long value)
    {
        Volatile.Write(ref *Counter(_rank, field), value);
        var wake = (int*)Counter(_rank, WakeField);
        Interlocked.Increment(ref *wake);
        if (Volatile.Read(ref *(int*)Counter(_rank, SleepersField)) > 0)
        {
            Futex.WakeAll(wake);
        }
    }

    /// <summary>
    /// Spins for a few microseconds (the peer is usually on another core and close behind), then sleeps on the
    /// peer's futex word, so a waiting rank gives its core away and is woken the moment the peer publishes, like a
    /// blocked socket read. Checks abort, peer health and the timeout between sleeps.
    /// </summary>
    private void WaitFor(int rank, int field, long target)
    {
        var counter = Counter(rank, field);
        if (Volatile.Read(ref *counter) >= target)
        {
            return;
        }

        var start = Stopwatch.GetTimestamp();
        var iterations = 0;
        while (Volatile.Read(ref *counter) < target)
        {
            if ((++iterations & 31) != 0)
            {
                Thread.SpinWait(8);
                continue;
            }

            var waited = Stopwatch.GetElapsedTime(start);
            if (waited < SpinBudget)
            {
                continue;
            }

            ThrowIfAborted();
            if (waited > _timeout)
            {
                throw new CollectiveException($"{_peers[rank]} sent nothing for {_timeout.TotalSeconds:0} s during all-reduce (FERRY_COLLECTIVE_TIMEOUT_SECONDS); it has hung or died");
            }

            if (_peerHealth() is { } problem)
            {
                throw new CollectiveException(problem);
            }

            var wake = (int*)Counter(rank, WakeField);
            var sleepers = (int*)Counter(rank, SleepersField);
            Interlocked.Increment(ref *sleepers);
            try
            {
                // Read the wake word before the last look at the counter: a publish in between changes the word, so the sleep returns at once.
                var seen = Volatile.Read(ref *wake);
                if (Volatile.Read(ref *counter) < target)
                {
                    Futex.Wait(wake, seen, SleepSlice);
                }
            }
            finally
            {
                Interlocked.Decrement(ref *sleepers);
            }
        }
    }

    private void ThrowIfAborted()
    {
        var state = (int*)(_region.Base + AbortStateOffset);
        if (Volatile.Read(ref *state) == 0)
        {
            return;
        }

        // The aborting rank is writing its reason; it takes microseconds.
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        while (Volatile.Read(ref *state) != 2 && Stopwatch.GetTimestamp() < deadline)
        {
            Thread.Yield();
        }

        var count = Math.Clamp(Volatile.Read(ref *(int*)(_region.Base + AbortLengthOffset)), 0, AbortReasonMaxBytes);
        var reason = Encoding.UTF8.GetString(new ReadOnlySpan<byte>(_region.Base + AbortReasonOffset, count));
        throw new CollectiveException($"rank {_rank}: the all-reduce was abandoned because another rank failed: {reason}");
    }

    public void Dispose() => _region.Dispose();
}
