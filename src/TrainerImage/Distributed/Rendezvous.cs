using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Trainer.Distributed;

/// <summary>
/// Forms the ring. Rank 0 listens on the master port; every other rank connects to it (retrying until the
/// timeout) and sends the port of its own ring listener; rank 0 answers everyone with the full address table
/// (worker hosts as rank 0 saw them); then each rank connects to its successor and accepts its predecessor.
/// Finally the ranks agree on the transport: shared memory when all of them can map one region, else TCP.
/// </summary>
public static class Rendezvous
{
    private const int Magic = 0x46525256; // "FRRV"
    private const int ProtocolVersion = 1;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>Joins the job described by <paramref name="settings"/> and returns its connected ring.</summary>
    public static RingAllReduce Connect(RendezvousSettings settings, int chunkBytes = RingAllReduce.DefaultChunkBytes, CancellationToken cancellationToken = default)
        => ConnectAsync(settings, chunkBytes, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="Connect"/>
    public static async Task<RingAllReduce> ConnectAsync(RendezvousSettings settings, int chunkBytes = RingAllReduce.DefaultChunkBytes, CancellationToken cancellationToken = default)
    {
        if (settings.WorldSize == 1)
        {
            return RingAllReduce.Single();
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(settings.Timeout);
        using var ringListener = Listen(0);
        var ringPort = ((IPEndPoint)ringListener.LocalEndpoint).Port;
        PeerAddress[] table;
        try
        {
            table = settings.Rank == 0
                ? await LeadAsync(settings, ringPort, deadline.Token).ConfigureAwait(false)
                : await JoinAsync(settings, ringPort, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CollectiveException($"rendezvous timed out: rank {settings.Rank} gave up after {settings.Timeout.TotalSeconds:0} s (FERRY_RENDEZVOUS_TIMEOUT_SECONDS)");
        }

        var next = table[(settings.Rank + 1) % settings.WorldSize];
        var previous = table[(settings.Rank - 1 + settings.WorldSize) % settings.WorldSize];
        var acceptTask = AcceptPredecessorAsync(ringListener, previous, settings, deadline.Token);
        Socket toNext;
        try
        {
            toNext = await ConnectWithRetryAsync(next.Host, next.Port, deadline.Token).ConfigureAwait(false);
            var hello = new byte[8];
            BinaryPrimitives.WriteInt32LittleEndian(hello, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(4), settings.Rank);
            await toNext.SendAsync(hello, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException && !cancellationToken.IsCancellationRequested)
        {
            deadline.Cancel();
            throw new CollectiveException($"ring setup failed: rank {settings.Rank} could not connect to its successor {next} within {settings.Timeout.TotalSeconds:0} s (FERRY_RENDEZVOUS_TIMEOUT_SECONDS): {e.Message}", e);
        }

        Socket fromPrevious;
        try
        {
            fromPrevious = await acceptTask.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            toNext.Dispose();
            throw new CollectiveException($"ring setup failed: rank {settings.Rank} was never contacted by its predecessor {previous} within {settings.Timeout.TotalSeconds:0} s (FERRY_RENDEZVOUS_TIMEOUT_SECONDS)");
        }

        var ring = RingAllReduce.FromConnectedRing(settings.Rank, settings.WorldSize, toNext, fromPrevious, next, previous, settings.CollectiveTimeout, chunkBytes);
        try
        {
            ring.ChooseTransport(settings.Transport, table);
            return ring;
        }
        catch
        {
            ring.Dispose();
            throw;
        }
    }

    private static TcpListener Listen(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.IPv6Any, port);
            listener.Server.DualMode = true;
            listener.Start(256);
            return listener;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable)
        {
            var listener = new TcpListener(IPAddress.Any, port);
            listener.Start(256);
            return listener;
        }
    }

    private static async Task<PeerAddress[]> LeadAsync(RendezvousSettings settings, int ringPort, CancellationToken cancellationToken)
    {
        TcpListener listener;
        try
        {
            listener = Listen(settings.MasterPort);
        }
        catch (SocketException e)
        {
            throw new CollectiveException($"rendezvous: rank 0 cannot listen on port {settings.MasterPort} (MASTER_PORT or FERRY_RENDEZVOUS_PORT): {e.Message}; choose a free port", e);
        }

        using var _ = listener.Server;
        var table = new PeerAddress?[settings.WorldSize];
        table[0] = new PeerAddress(0, settings.MasterHost, ringPort);
        var workers = new List<Socket>();
        try
        {
            while (workers.Count < settings.WorldSize - 1)
            {
                Socket worker;
                try
                {
                    worker = await listener.AcceptSocketAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    var missing = Enumerable.Range(1, settings.WorldSize - 1).Where(r => table[r] is null);
                    throw new CollectiveException(
                        $"rendezvous timed out after {settings.Timeout.TotalSeconds:0} s (FERRY_RENDEZVOUS_TIMEOUT_SECONDS): rank 0 listening on port {settings.MasterPort} " +
                        $"never heard from rank(s) {string.Join(", ", missing)} of WORLD_SIZE={settings.WorldSize}; check that every replica started and can reach {settings.MasterHost}:{settings.MasterPort}");
                }

                workers.Add(worker);
                var hello = new byte[16];
                await ReceiveExactlyAsync(worker, hello.AsMemory(), cancellationToken).ConfigureAwait(false);
                var rank = BinaryPrimitives.ReadInt32LittleEndian(hello.AsSpan(4));
                var world = BinaryPrimitives.ReadInt32LittleEndian(hello.AsSpan(8));
                var port = BinaryPrimitives.ReadInt32LittleEndian(hello.AsSpan(12));
                if (BinaryPrimitives.ReadInt32LittleEndian(hello) != Magic)
                {
                    throw new CollectiveException($"rendezvous: something that is not a Ferry trainer connected to port {settings.MasterPort} from {worker.RemoteEndPoint}; use a port reserved for the job");
                }

                if (world != settings.WorldSize)
                {
                    throw new CollectiveException($"rendezvous: rank {rank} at {worker.RemoteEndPoint} says WORLD_SIZE={world} but rank 0 has {settings.WorldSize}; every replica must get the same world size");
                }

                if (rank <= 0 || rank >= settings.WorldSize || table[rank] is not null)
                {
                    throw new CollectiveException($"rendezvous: a second process claims rank {rank} (from {worker.RemoteEndPoint}); every replica needs a distinct RANK (or SM_CURRENT_HOST)");
                }

                var remote = (IPEndPoint)worker.RemoteEndPoint!;
                var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
                table[rank] = new PeerAddress(rank, address.ToString(), port);
            }

            var complete = table.Select(p => p!).ToArray();
            var reply = EncodeTable(complete);
            foreach (var worker in workers)
            {
                await worker.SendAsync(reply, cancellationToken).ConfigureAwait(false);
            }

            return complete;
        }
        finally
        {
            foreach (var worker in workers)
            {
                worker.Dispose();
            }

            listener.Stop();
        }
    }

    private static async Task<PeerAddress[]> JoinAsync(RendezvousSettings settings, int ringPort, CancellationToken cancellationToken)
    {
        Socket master;
        try
        {
            master = await ConnectWithRetryAsync(settings.MasterHost, settings.MasterPort, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException e)
        {
            throw new CollectiveException(
                $"rendezvous timed out after {settings.Timeout.TotalSeconds:0} s (FERRY_RENDEZVOUS_TIMEOUT_SECONDS): rank {settings.Rank} could not reach the master, rank 0 at " +
                $"{settings.MasterHost}:{settings.MasterPort} (MASTER_ADDR/MASTER_PORT, or the first SM_HOSTS entry and FERRY_RENDEZVOUS_PORT); check that rank 0 started and that the address is reachable", e);
        }

        using (master)
        {
            var hello = new byte[16];
            BinaryPrimitives.WriteInt32LittleEndian(hello, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(4), settings.Rank);
            BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(8), settings.WorldSize);
            BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(12), ringPort);
            await master.SendAsync(hello, cancellationToken).ConfigureAwait(false);
            return await DecodeTableAsync(master, settings, cancellationToken).ConfigureAwait(false);
        }
    }

    private static byte[] EncodeTable(PeerAddress[] table)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, Encoding.UTF8);
        writer.Write(Magic);
        writer.Write(ProtocolVersion);
        writer.Write(table.Length);
        foreach (var peer in table)
        {
            writer.Write(peer.Port);
            writer.Write(peer.Host);
        }

        writer.Flush();
        var body = stream.ToArray();
        var framed = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(framed, body.Length);
        body.CopyTo(framed, 4);
        return framed;
    }

    private static async Task<PeerAddress[]> DecodeTableAsync(Socket master, RendezvousSettings settings, CancellationToken cancellationToken)
    {
        var lengthBytes = new byte[4];
        await ReceiveExactlyAsync(master, lengthBytes, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadInt32LittleEndian(lengthBytes);
        if (length is <= 0 or > 1 << 20)
        {
            throw new CollectiveException($"rendezvous: rank 0 at {settings.MasterHost}:{settings.MasterPort} sent a malformed address table");
        }

        var body = new byte[length];
        await ReceiveExactlyAsync(master, body, cancellationToken).ConfigureAwait(false);
        using var reader = new BinaryReader(new MemoryStream(body), Encoding.UTF8);
        if (reader.ReadInt32() != Magic || reader.ReadInt32() != ProtocolVersion)
        {
            throw new CollectiveException($"rendezvous: rank 0 at {settings.MasterHost}:{settings.MasterPort} speaks a different protocol version; run the same trainer build on every replica");
        }

        var count = reader.ReadInt32();
        var table = new PeerAddress[count];
        for (var rank = 0; rank < count; rank++)
        {
            var port = reader.ReadInt32();
            table[rank] = new PeerAddress(rank, reader.ReadString(), port);
        }

        return table;
    }

    private static async Task<Socket> AcceptPredecessorAsync(TcpListener listener, PeerAddress previous, RendezvousSettings settings, CancellationToken cancellationToken)
    {
        var socket = await listener.AcceptSocketAsync(cancellationToken).ConfigureAwait(false);
        var hello = new byte[8];
        await ReceiveExactlyAsync(socket, hello, cancellationToken).ConfigureAwait(false);
        var rank = BinaryPrimitives.ReadInt32LittleEndian(hello.AsSpan(4));
        if (BinaryPrimitives.ReadInt32LittleEndian(hello) != Magic || rank != previous.Rank)
        {
            socket.Dispose();
            throw new CollectiveException($"ring setup failed: rank {settings.Rank} expected its predecessor {previous} but {socket.RemoteEndPoint} introduced itself as rank {rank}");
        }

        return socket;
    }

    private static async Task<Socket> ConnectWithRetryAsync(string host, int port, CancellationToken cancellationToken)
    {
        while (true)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
                socket.NoDelay = true;
                return socket;
            }
            catch (SocketException)
            {
                socket.Dispose();

                // The peer may simply not be listening yet; retry until the deadline.
                await Task.Delay(RetryDelay, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var received = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                throw new CollectiveException($"rendezvous: {socket.RemoteEndPoint} closed the connection early; that process has probably exited (see its log)");
            }

            buffer = buffer[received..];
        }
    }
}
