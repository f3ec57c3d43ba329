using System.Buffers.Binary;
using System.IO.Compression;

namespace Ferry.Trainer.Data;

/// <summary>An IDX file's payload: unsigned bytes with their dimensions.</summary>
public sealed record IdxArray(string Path, int[] Dimensions, byte[] Values)
{
    public int Count => Dimensions[0];
}

/// <summary>Reads IDX files (the MNIST format: big-endian header, magic 0x08 = unsigned byte), gzipped or not.</summary>
public static class IdxReader
{
    /// <summary>Reads an IDX file with <paramref name="expectedDimensions"/> dimensions (3 for images, 1 for labels).</summary>
    public static IdxArray Read(string path, int expectedDimensions)
    {
        if (!File.Exists(path))
        {
            throw new TrainerConfigurationException($"input file {path} does not exist.");
        }

        byte[] bytes;
        try
        {
            bytes = ReadAllBytes(path);
        }
        catch (InvalidDataException e)
        {
            throw new TrainerConfigurationException($"input file {path} is a corrupt gzip stream ({e.Message}); replace it with an intact copy.", e);
        }

        if (bytes.Length < 4)
        {
            throw new TrainerConfigurationException($"input file {path} is truncated: {bytes.Length} bytes is shorter than the 4-byte IDX magic number.");
        }

        if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != expectedDimensions)
        {
            throw new TrainerConfigurationException(
                $"input file {path} has bad magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(bytes):X8}; expected 0x{0x800 | expectedDimensions:X8} " +
                $"(an IDX file of unsigned bytes with {expectedDimensions} dimension(s)); it is not a Fashion-MNIST {(expectedDimensions == 3 ? "images" : "labels")} file.");
        }

        var headerLength = 4 + (4 * expectedDimensions);
        if (bytes.Length < headerLength)
        {
            throw new TrainerConfigurationException($"input file {path} is truncated: its header needs {headerLength} bytes but the file has {bytes.Length}.");
        }

        var dimensions = new int[expectedDimensions];
        long expected = 1;
        for (var i = 0; i < expectedDimensions; i++)
        {
            dimensions[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + (4 * i)));
            if (dimensions[i] < 0)
            {
                throw new TrainerConfigurationException($"input file {path} is corrupt: dimension {i} is negative ({dimensions[i]}).");
            }

            expected *= dimensions[i];
        }

        var payload = bytes.Length - headerLength;
        if (payload < expected)
        {
            throw new TrainerConfigurationException(
                $"input file {path} is truncated: its header announces {string.Join("x", dimensions)} = {expected} values but only {payload} bytes follow; download it again.");
        }

        return new IdxArray(path, dimensions, bytes.AsSpan(headerLength, (int)expected).ToArray());
    }

    private static byte[] ReadAllBytes(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> signature = stackalloc byte[2];
        var isGzip = file.Read(signature) == 2 && signature[0] == 0x1f && signature[1] == 0x8b;
        file.Position = 0;
        if (!isGzip)
        {
            return File.ReadAllBytes(path);
        }

        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }
}
