using System.Net;
using System.Net.Sockets;
using Ferry.Trainer.Distributed;

namespace Ferry.Trainer.Tests.Fixtures;

/// <summary>Runs n ranks as threads in this process, each with its own ring over loopback.</summary>
public static class InProcessWorld
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static RendezvousSettings Settings(int rank, int worldSize, int port, double collectiveTimeoutSeconds = 30, CollectiveTransport transport = CollectiveTransport.Auto) =>
        new("127.0.0.1", port, rank, worldSize, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(collectiveTimeoutSeconds), transport);

    /// <summary>Forms a ring of <paramref name="worldSize"/> ranks (threads of one process share /dev/shm, so auto picks shared memory).</summary>
    public static RingAllReduce[] Connect(int worldSize, double collectiveTimeoutSeconds = 30, int chunkBytes = RingAllReduce.DefaultChunkBytes, CollectiveTransport transport = CollectiveTransport.Auto)
    {
        var port = FreePort();
        var tasks = Enumerable.Range(0, worldSize)
            .Select(rank => Task.Run(() => Rendezvous.ConnectAsync(Settings(rank, worldSize, port, collectiveTimeoutSeconds, transport), chunkBytes)))
            .ToArray();
        Assert.True(Task.WaitAll(tasks, TimeSpan.FromSeconds(60)), "ring did not form within 60 s");
        return tasks.Select(t => t.Result).ToArray();
    }

    /// <summary>Runs <paramref name="body"/> once per rank on its own thread and returns the results in rank order.</summary>
    public static T[] RunRanks<T>(int worldSize, Func<int, T> body, TimeSpan? timeout = null)
    {
        var results = new T[worldSize];
        var errors = new Exception?[worldSize];
        var threads = Enumerable.Range(0, worldSize).Select(rank => new Thread(() =>
        {
            try
            {
                results[rank] = body(rank);
            }
            catch (Exception e)
            {
                errors[rank] = e;
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        foreach (var thread in threads)
        {
            var remaining = deadline - DateTime.UtcNow;
            Assert.True(thread.Join(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero), "a rank did not finish in time (hang)");
        }

        var failures = errors.Where(e => e is not null).ToArray();
        if (failures.Length > 0)
        {
            throw new AggregateException(failures!);
        }

        return results;
    }
}
