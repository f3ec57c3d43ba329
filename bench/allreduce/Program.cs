using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ferry.Trainer.Distributed;

// Times Ferry's ring all-reduce in one rank process; run one process per rank with the torchrun variables
// (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE), exactly as the trainer joins its ring.
// Usage: Ferry.Bench.AllReduce --sizes 1048576,16777216 [--iters 10] [--warmup 3]
// FERRY_BENCH_CHUNK_BYTES overrides the TCP ring's chunk size (default: the trainer's); FERRY_COLLECTIVE_TRANSPORT
// picks the transport as in the trainer (auto: shared memory between ranks on one host, else TCP; tcp; shm).
// Rank 0 prints one JSON object; any wrong element in the reduced buffer exits with code 1.
var options = BenchOptions.Parse(args);
var settings = RendezvousSettings.FromEnvironment(Environment.GetEnvironmentVariable);
var chunkBytes = int.TryParse(Environment.GetEnvironmentVariable("FERRY_BENCH_CHUNK_BYTES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c)
    ? c
    : RingAllReduce.DefaultChunkBytes;

using var ring = Rendezvous.Connect(settings, chunkBytes);
var world = ring.WorldSize;
var fill = ring.Rank + 1f;
// The mean of 1, 2, ..., n; exact in float32 for the small n used here.
var expected = (world + 1) / 2f;
var times = new float[world];
var results = new List<SizeResult>();

foreach (var size in options.Sizes)
{
    var buffer = GC.AllocateUninitializedArray<float>(checked((int)(size / sizeof(float))), pinned: true);
    var seconds = new List<double>();
    for (var i = 0; i < options.Warmup + options.Iterations; i++)
    {
        Array.Fill(buffer, fill);
        ring.Barrier();
        var start = Stopwatch.GetTimestamp();
        ring.AllReduceMean(buffer.AsSpan());
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;

        // Every element is checked: a fast wrong answer must never be reported as a figure.
        var bad = buffer.AsSpan().IndexOfAnyExcept(expected);
        if (bad >= 0)
        {
            Console.Error.WriteLine($"rank {ring.Rank}: the ring all-reduce produced {buffer[bad]} at element {bad} of {buffer.Length} ({size} bytes), expected {expected}");
            return 1;
        }

        // An all-reduce is done when the slowest rank has the result: gather every rank's time.
        Array.Clear(times);
        times[ring.Rank] = (float)elapsed;
        ring.AllReduceMean(times.AsSpan());
        if (i >= options.Warmup)
        {
            seconds.Add(times.Max() * world);
        }
    }

    results.Add(new SizeResult(size, seconds));
}

if (ring.Rank == 0)
{
    var report = new BenchReport("ferry-ring", ring.Transport, ring.SharedMemoryUnavailableReason, world, chunkBytes, Environment.ProcessorCount, results);
    Console.WriteLine(JsonSerializer.Serialize(report, BenchJson.Options));
}

return 0;

/// <summary>Timed iterations of one buffer size (seconds of the slowest rank per iteration).</summary>
internal sealed record SizeResult(long Bytes, List<double> Seconds);

/// <summary>Rank 0's result, in the shape the driver (run.py) also reads from the gloo peer.</summary>
internal sealed record BenchReport(string Implementation, string Transport, string? SharedMemoryUnavailableReason, int WorldSize, int ChunkBytes, int ProcessorCount, List<SizeResult> Results);

/// <summary>snake_case JSON, as the Python driver expects.</summary>
internal static class BenchJson
{
    public static JsonSerializerOptions Options { get; } = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}

/// <summary>Command-line options of one rank.</summary>
internal sealed record BenchOptions(IReadOnlyList<long> Sizes, int Iterations, int Warmup)
{
    public static BenchOptions Parse(string[] args)
    {
        IReadOnlyList<long> sizes = [];
        var iterations = 10;
        var warmup = 3;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--sizes":
                    sizes = [.. args[i + 1].Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
                    break;
                case "--iters":
                    iterations = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--warmup":
                    warmup = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"unknown option {args[i]}; expected --sizes, --iters or --warmup");
            }
        }

        if (sizes.Count == 0 || sizes.Any(s => s <= 0 || s % sizeof(float) != 0))
        {
            throw new ArgumentException("--sizes must list positive byte counts that are multiples of 4");
        }

        return new BenchOptions(sizes, iterations, warmup);
    }
}
