using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Ferry.Trainer.Distributed.SharedMemory;
using TorchSharp;

namespace Ferry.Trainer.Distributed;

/// <summary>
/// Bandwidth-optimal ring all-reduce over TCP (reduce-scatter then all-gather, 2(n-1) steps, each rank
/// sending and receiving (n-1)/n of the buffer twice). The buffer is split into n segments and each segment
/// into chunks; a dedicated sender thread streams chunk k of step t as soon as the calling thread has
/// received and reduced chunk k of step t-1, so sending and receiving overlap. Chunks go straight from and
/// into the caller's buffer; only reduce-scatter receives pass through one pinned staging chunk, so a call
/// allocates nothing. Every segment is reduced (and scaled to a mean) on exactly one rank and then copied,
/// so all ranks end with bit-identical results. When every rank is on one host, all-reduces go through
/// <see cref="SharedMemoryAllReduce"/> instead; broadcasts always use the ring.
/// </summary>
public sealed unsafe class RingAllReduce : ICollectives
{
    /// <summary>Default chunk size in bytes: big enough to amortise system calls, small enough to pipeline.</summary>
    public const int DefaultChunkBytes = 512 * 1024;

    private const int HeaderMagic = 0x46524E47; // "FRNG"
    private const int HeaderBytes = 16;
    private const int OpAllReduce = 1;
    private const int OpBroadcast = 2;

    private readonly Socket? _toNext;
    private readonly Socket? _fromPrevious;
    private readonly PeerAddress? _next;
    private readonly PeerAddress? _previous;
    private readonly TimeSpan _timeout;
    private readonly int _chunkFloats;
    private readonly byte[] _staging;
    private readonly byte[] _sendHeader = GC.AllocateArray<byte>(HeaderBytes, pinned: true);
    private readonly byte[] _receiveHeader = GC.AllocateArray<byte>(HeaderBytes, pinned: true);
    private readonly Thread? _senderThread;
    private readonly SemaphoreSlim _jobReady = new(0);
    private readonly SemaphoreSlim _jobDone = new(0);
    private readonly object _progressLock = new();

    // The current all-reduce job, written by the calling thread before releasing _jobReady.
    private float* _jobBuffer;
    private long _jobLength;
    private long _receivedUnits;
    private Exception? _senderError;
    private volatile bool _broken;
    private volatile bool _disposed;
    private string? _brokenReason;
    private SharedMemoryAllReduce? _sharedMemory;

    private RingAllReduce(int rank, int worldSize, Socket? toNext, Socket? fromPrevious, PeerAddress? next, PeerAddress? previous, TimeSpan timeout, int chunkBytes)
    {
        Rank = rank;
        WorldSize = worldSize;
        _toNext = toNext;
        _fromPrevious = fromPrevious;
        _next = next;
        _previous = previous;
        _timeout = timeout;
        _chunkFloats = Math.Max(1024, chunkBytes / sizeof(float));
        _staging = GC.AllocateArray<byte>(worldSize > 1 ? _chunkFloats * sizeof(float) : 0, pinned: true);
        if (worldSize > 1)
        {
            _senderThread = new Thread(SenderLoop) { IsBackground = true, Name = $"ring-send-rank{rank}" };
            _senderThread.Start();
        }
    }

    public int Rank { get; }

    public int WorldSize { get; }

    /// <summary>What carries the all-reduce: "shm" (shared memory, ranks on one host), "tcp" (the ring) or "none" (one rank).</summary>
    public string Transport => WorldSize == 1 ? "none" : _sharedMemory is null ? "tcp" : "shm";

    /// <summary>Where the shared-memory region was (its name is removed once every rank has mapped it); null without one.</summary>
    internal string? SharedMemoryPath => _sharedMemory?.Path;

    /// <summary>Why shared memory is not used (null when it is, or when TCP was asked for).</summary>
    public string? SharedMemoryUnavailableReason { get; private set; }

    /// <summary>A world of one: every collective is a no-op.</summary>
    public static RingAllReduce Single() => new(0, 1, null, null, null, null, TimeSpan.FromMinutes(5), DefaultChunkBytes);

    /// <summary>Wraps connected ring sockets (made by <see cref="Rendezvous"/>).</summary>
    internal static RingAllReduce FromConnectedRing(int rank, int worldSize, Socket toNext, Socket fromPrevious, PeerAddress next, PeerAddress previous, TimeSpan timeout, int chunkBytes = DefaultChunkBytes)
    {
        foreach (var socket in new[] { toNext, fromPrevious })
        {
            socket.NoDelay = true;
            socket.SendTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
        }

        // Large kernel buffers let a whole chunk sit in flight while the receiver reduces the previous one.
        toNext.SendBufferSize = 4 * 1024 * 1024;
        fromPrevious.ReceiveBufferSize = 4 * 1024 * 1024;
        return new RingAllReduce(rank, worldSize, toNext, fromPrevious, next, previous, timeout, chunkBytes);
    }

    /// <summary>Agrees with the other ranks on the transport (every rank calls it right after the ring forms).</summary>
    internal void ChooseTransport(CollectiveTransport transport, IReadOnlyList<PeerAddress> peers)
    {
        if (WorldSize == 1 || transport == CollectiveTransport.Tcp)
        {
            return;
        }

        _sharedMemory = SharedMemoryAllReduce.Join(this, peers, _timeout, _chunkFloats * sizeof(float), PeerHealth, out var reason);
        SharedMemoryUnavailableReason = _sharedMemory is null ? reason : null;
        if (_sharedMemory is null && transport == CollectiveTransport.Shm)
        {
            throw new CollectiveException(
                $"FERRY_COLLECTIVE_TRANSPORT=shm but the ranks cannot share memory: {reason}; run every rank on one host with a shared /dev/shm, or unset FERRY_COLLECTIVE_TRANSPORT (auto falls back to TCP)");
        }
    }

    /// <summary>Null while the predecessor's connection is open; otherwise why it is not (it exited or the ring was closed).</summary>
    private string? PeerHealth()
    {
        try
        {
            if (_fromPrevious!.Poll(0, SelectMode.SelectRead) && _fromPrevious.Available == 0)
            {
                return $"lost the connection to {_previous} during all-reduce; that rank has probably exited (see its log)";
            }

            return null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return $"lost the connection to {_previous} during all-reduce: {e.Message}; that rank has probably exited (see its log)";
        }
    }

    public void AllReduceMean(torch.Tensor buffer)
    {
        var (pointer, length) = TensorMemory.FloatSpan(buffer, nameof(AllReduceMean));
        AllReduceMean((float*)pointer, length);
    }

    /// <summary>Replaces <paramref name="buffer"/> with its element-wise mean over all ranks.</summary>
    public void AllReduceMean(Span<float> buffer)
    {
        fixed (float* pointer = buffer)
        {
            AllReduceMean(pointer, buffer.Length);
        }
    }

    public void Broadcast(torch.Tensor buffer)
    {
        var (pointer, length) = TensorMemory.ByteSpan(buffer, nameof(Broadcast));
        Broadcast(new Span<byte>((void*)pointer, checked((int)length)));
    }

    public void Broadcast(Span<byte> buffer)
    {
        if (WorldSize == 1)
        {
            return;
        }

        ThrowIfBroken();
        try
        {
            // Rank 0 -> 1 -> ... -> n-1; the last rank does not send back to rank 0.
            if (Rank != 0)
            {
                ReceiveHeader(OpBroadcast, buffer.Length);
                ReceiveExactly(buffer, "broadcast");
            }

            if (Rank != WorldSize - 1)
            {
                WriteHeader(_sendHeader, OpBroadcast, buffer.Length);
                SendExactly(_sendHeader, "broadcast");
                SendExactly(buffer, "broadcast");
            }
        }
        catch (Exception e)
        {
            throw Fail(e, "broadcast");
        }
    }

    public void Barrier()
    {
        Span<float> token = stackalloc float[1];
        AllReduceMean(token);
    }

    private void AllReduceMean(float* buffer, long length)
    {
        if (WorldSize == 1)
        {
            return;
        }

        ThrowIfBroken();
        if (_sharedMemory is not null)
        {
            try
            {
                _sharedMemory.AllReduceMean(buffer, length);
                return;
            }
            catch (Exception e)
            {
                _sharedMemory.Abort(e.Message);
                throw Fail(e, "all-reduce");
            }
        }

        _jobBuffer = buffer;
        _jobLength = length;
        lock (_progressLock)
        {
            _receivedUnits = 0;
            _senderError = null;
        }

        _jobReady.Release();
        Exception? receiveError = null;
        try
        {
            ReceiveAll(buffer, length);
        }
        catch (Exception e)
        {
            receiveError = e;
            Break(e.Message);
        }

        _jobDone.Wait();
        var error = receiveError ?? _senderError;
        if (error is not null)
        {
            throw Fail(error, "all-reduce");
        }
    }

    private (long Start, long Length) Segment(int index, long length)
    {
        var start = index * length / WorldSize;
        var end = (index + 1) * length / WorldSize;
        return (start, end - start);
    }

    private int ChunkCount(long segmentLength) => (int)((segmentLength + _chunkFloats - 1) / _chunkFloats);

    private int SendSegment(int step) => Mod(Rank - step, WorldSize);

    private int ReceiveSegment(int step) => Mod(Rank - step - 1, WorldSize);

    private static int Mod(int value, int modulus) => ((value % modulus) + modulus) % modulus;

    private void ReceiveAll(float* buffer, long length)
    {
        ReceiveHeader(OpAllReduce, length);
        var steps = 2 * (WorldSize - 1);
        var scale = 1f / WorldSize;
        for (var step = 0; step < steps; step++)
        {
            var (start, segmentLength) = Segment(ReceiveSegment(step), length);
            var chunks = ChunkCount(segmentLength);
            var reducing = step < WorldSize - 1;
            var lastReduce = step == WorldSize - 2;
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                var offset = start + ((long)chunk * _chunkFloats);
                var count = (int)Math.Min(_chunkFloats, segmentLength - ((long)chunk * _chunkFloats));
                var destination = new Span<float>(buffer + offset, count);
                if (reducing)
                {
                    var staging = MemoryMarshal.Cast<byte, float>(_staging.AsSpan(0, count * sizeof(float)));
                    ReceiveExactly(MemoryMarshal.AsBytes(staging), "all-reduce");
                    if (lastReduce)
                    {
                        VectorMath.AddThenScale(destination, staging, scale);
                    }
                    else
                    {
                        VectorMath.Add(destination, staging);
                    }
                }
                else
                {
                    // All-gather: the predecessor's chunk is final; receive it in place.
                    ReceiveExactly(MemoryMarshal.AsBytes(destination), "all-reduce");
                }

                lock (_progressLock)
                {
                    _receivedUnits++;
                    Monitor.PulseAll(_progressLock);
                }
            }
        }
    }

    private void SenderLoop()
    {
        while (true)
        {
            try
            {
                _jobReady.Wait();
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            if (_disposed)
            {
                return;
            }

            try
            {
                SendAll(_jobBuffer, _jobLength);
            }
            catch (Exception e)
            {
                lock (_progressLock)
                {
                    _senderError = e;
                }

                Break(e.Message);
            }
            finally
            {
                _jobDone.Release();
            }
        }
    }

    private void SendAll(float* buffer, long length)
    {
        WriteHeader(_sendHeader, OpAllReduce, length);
        SendExactly(_sendHeader, "all-reduce");
        var steps = 2 * (WorldSize - 1);
        long unitsBeforeStep = 0;
        for (var step = 0; step < steps; step++)
        {
            var (start, segmentLength) = Segment(SendSegment(step), length);
            var chunks = ChunkCount(segmentLength);
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                if (step > 0)
                {
                    // This segment is the one received at step-1: wait until that chunk is reduced/received.
                    WaitForReceived(unitsBeforeStep + chunk + 1);
                }

                var offset = start + ((long)chunk * _chunkFloats);
                var count = (int)Math.Min(_chunkFloats, segmentLength - ((long)chunk * _chunkFloats));
                SendExactly(MemoryMarshal.AsBytes(new ReadOnlySpan<float>(buffer + offset, count)), "all-reduce");
            }

            if (step > 0)
            {
                unitsBeforeStep += chunks;
            }
        }
    }

    private void WaitForReceived(long units)
    {
        lock (_progressLock)
        {
            while (_receivedUnits < units)
            {
                if (_broken)
                {
                    throw new CollectiveException(_brokenReason ?? "the ring failed");
                }

                Monitor.Wait(_progressLock, 1000);
            }
        }
    }

    private static void WriteHeader(byte[] header, int op, long length)
    {
        BinaryPrimitives.WriteInt32LittleEndian(header, HeaderMagic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), op);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), length);
    }

    private void ReceiveHeader(int op, long length)
    {
        var operation = op == OpAllReduce ? "all-reduce" : "broadcast";
        ReceiveExactly(_receiveHeader, operation);
        var magic = BinaryPrimitives.ReadInt32LittleEndian(_receiveHeader);
        var peerOp = BinaryPrimitives.ReadInt32LittleEndian(_receiveHeader.AsSpan(4));
        var peerLength = BinaryPrimitives.ReadInt64LittleEndian(_receiveHeader.AsSpan(8));
        if (magic != HeaderMagic || peerOp != op || peerLength != length)
        {
            throw new CollectiveException(
                $"{_previous} is out of step with rank {Rank}: it started {(peerOp == OpAllReduce ? "an all-reduce" : peerOp == OpBroadcast ? "a broadcast" : "an unknown operation")} of {peerLength} elements " +
                $"while this rank started {(op == OpAllReduce ? "an all-reduce" : "a broadcast")} of {length}; all ranks must run the same model and hyperparameters");
        }
    }

    private void SendExactly(ReadOnlySpan<byte> data, string operation)
    {
        while (!data.IsEmpty)
        {
            int sent;
            try
            {
                sent = _toNext!.Send(data, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new CollectiveException($"{_next} accepted no data for {_timeout.TotalSeconds:0} s during {operation} (FERRY_COLLECTIVE_TIMEOUT_SECONDS); it has hung or died", e);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                throw new CollectiveException($"lost the connection to {_next} during {operation}: {e.Message}; that rank has probably exited (see its log)", e);
            }

            data = data[sent..];
        }
    }

    private void ReceiveExactly(Span<byte> data, string operation)
    {
        while (!data.IsEmpty)
        {
            int received;
            try
            {
                received = _fromPrevious!.Receive(data, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new CollectiveException($"{_previous} sent nothing for {_timeout.TotalSeconds:0} s during {operation} (FERRY_COLLECTIVE_TIMEOUT_SECONDS); it has hung or died", e);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                throw new CollectiveException($"lost the connection to {_previous} during {operation}: {e.Message}; that rank has probably exited (see its log)", e);
            }

            if (received == 0)
            {
                throw new CollectiveException($"{_previous} closed its connection during {operation}; that rank has probably exited (see its log)");
            }

            data = data[received..];
        }
    }

    /// <summary>Marks the ring unusable and closes both sockets, so blocked I/O here and on the neighbours fails at once.</summary>
    private void Break(string reason)
    {
        lock (_progressLock)
        {
            _brokenReason ??= reason;
            _broken = true;
            Monitor.PulseAll(_progressLock);
        }

        CloseSockets();
    }

    private void CloseSockets()
    {
        foreach (var socket in new[] { _toNext, _fromPrevious })
        {
            if (socket is null)
            {
                continue;
            }

            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already closed: nothing left to unblock.
            }

            socket.Close();
        }
    }

    private CollectiveException Fail(Exception error, string operation)
    {
        Break(error.Message);
        return error as CollectiveException
            ?? new CollectiveException($"rank {Rank}: {operation} failed: {error.Message}", error);
    }

    private void ThrowIfBroken()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken)
        {
            throw new CollectiveException($"rank {Rank}: the ring is unusable after an earlier failure: {_brokenReason}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Break("the ring was closed");
        if (_senderThread is not null)
        {
            _jobReady.Release();
            if (!_senderThread.Join(TimeSpan.FromSeconds(5)))
            {
                // The sender is still unwinding from a failed send; leave its semaphores to the GC.
                return;
            }
        }

        _jobReady.Dispose();
        _jobDone.Dispose();
        _sharedMemory?.Dispose();
    }
}
