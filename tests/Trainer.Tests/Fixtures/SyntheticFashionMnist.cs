using System.Buffers.Binary;
using System.IO.Compression;

namespace Ferry.Trainer.Tests.Fixtures;

/// <summary>Writes small, learnable IDX files in the Fashion-MNIST layout: class c lights a distinct 7x7 block, plus noise.</summary>
public static class SyntheticFashionMnist
{
    public static void Write(string directory, string prefix, int count, int seed, bool gzip = true)
    {
        Directory.CreateDirectory(directory);
        var random = new Random(seed);
        var pixels = new byte[count * 28 * 28];
        var labels = new byte[count];
        for (var i = 0; i < count; i++)
        {
            var label = (byte)(i % 10);
            labels[i] = label;
            var top = label / 4 * 7;
            var left = label % 4 * 7;
            for (var p = 0; p < 28 * 28; p++)
            {
                var (row, column) = (p / 28, p % 28);
                var inBlock = row >= top && row < top + 7 && column >= left && column < left + 7;
                pixels[(i * 784) + p] = (byte)Math.Clamp((inBlock ? 170 : 20) + random.Next(-20, 60), 0, 255);
            }
        }

        WriteIdx(Path.Combine(directory, $"{prefix}-images-idx3-ubyte{(gzip ? ".gz" : "")}"), Header(0x803, count, 28, 28), pixels, gzip);
        WriteIdx(Path.Combine(directory, $"{prefix}-labels-idx1-ubyte{(gzip ? ".gz" : "")}"), Header(0x801, count), labels, gzip);
    }

    public static byte[] Header(int magic, params int[] dimensions)
    {
        var header = new byte[4 + (4 * dimensions.Length)];
        BinaryPrimitives.WriteInt32BigEndian(header, magic);
        for (var i = 0; i < dimensions.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + (4 * i)), dimensions[i]);
        }

        return header;
    }

    public static void WriteIdx(string path, byte[] header, byte[] payload, bool gzip)
    {
        using var file = File.Create(path);
        using Stream target = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        target.Write(header);
        target.Write(payload);
    }

    /// <summary>A train channel with train-* and t10k-* files.</summary>
    public static string Channel(string root, int trainCount = 512, int testCount = 200)
    {
        var dir = Path.Combine(root, "input", "data", "train");
        Write(dir, "train", trainCount, 1);
        Write(dir, "t10k", testCount, 2);
        return dir;
    }
}

/// <summary>A temporary directory removed at dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ferry-trainer-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process still holding a file: leave it for the OS temp cleaner.
        }
    }
}
