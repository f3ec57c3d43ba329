using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Security.Cryptography;

namespace Ferry.Trainer.Distributed.SharedMemory;

/// <summary>
/// A file under /dev/shm mapped into this process. Rank 0 creates it under a random name with a random token in
/// its header; the other ranks open it by name and use it only if they read the same token, which proves they see
/// rank 0's file (same host, same /dev/shm) rather than nothing or a stranger's. The file is unlinked as soon as
/// every rank has mapped it, so a crash later leaves nothing behind; the mapping lives until each rank disposes it.
/// </summary>
internal sealed unsafe class SharedMemoryRegion : IDisposable
{
    /// <summary>Where the regions are created: tmpfs shared by the processes of one host (or one pod).</summary>
    public const string Directory = "/dev/shm";

    /// <summary>Bytes at the start of the file that carry the identity and abort state.</summary>
    public const int HeaderBytes = 4096;

    public const int TokenBytes = 16;

    private const long Magic = 0x4D48535952524546; // "FERRYSHM"
    private const int NamePrefixLength = 16;
    private const string NamePrefix = "ferry-allreduce-";

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private bool _disposed;

    private SharedMemoryRegion(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, long length)
    {
        Path = path;
        _file = file;
        _view = view;
        Length = length;
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        Base = pointer + _view.PointerOffset;
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>First byte of the mapping.</summary>
    public byte* Base { get; }

    /// <summary>The random token in the header; peers must read the same one.</summary>
    public ReadOnlySpan<byte> Token => new(Base + 8, TokenBytes);

    /// <summary>Creates, sizes (with the pages reserved up front, so a full /dev/shm fails here and not later with SIGBUS) and maps a new region.</summary>
    public static SharedMemoryRegion Create(long length, int worldSize)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new NotSupportedException($"shared-memory regions need Linux's {Directory}");
        }

        var name = NamePrefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(NamePrefixLength)).ToLowerInvariant();
        var path = System.IO.Path.Combine(Directory, name);
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
            PreallocationSize = length,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        try
        {
            stream.SetLength(length);
            var region = Map(path, stream, length);
            var header = new Span<byte>(region.Base, HeaderBytes);
            RandomNumberGenerator.Fill(header.Slice(8, TokenBytes));
            BinaryPrimitives.WriteInt32LittleEndian(header[24..], worldSize);
            BinaryPrimitives.WriteInt64LittleEndian(header, Magic);
            return region;
        }
        catch
        {
            stream.Dispose();
            TryUnlink(path);
            throw;
        }
    }

    /// <summary>Opens and maps rank 0's region; throws <see cref="IOException"/> unless it is there with the expected token, size and world size.</summary>
    public static SharedMemoryRegion Open(string name, ReadOnlySpan<byte> token, long length, int worldSize)
    {
        if (!name.StartsWith(NamePrefix, StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal))
        {
            throw new IOException($"'{name}' is not a shared-memory region name this trainer creates");
        }

        var path = System.IO.Path.Combine(Directory, name);
        var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            if (stream.Length != length)
            {
                throw new IOException($"{path} holds {stream.Length} bytes, expected {length}");
            }

            var region = Map(path, stream, length);
            var header = new ReadOnlySpan<byte>(region.Base, HeaderBytes);
            if (BinaryPrimitives.ReadInt64LittleEndian(header) != Magic || !header.Slice(8, TokenBytes).SequenceEqual(token) || BinaryPrimitives.ReadInt32LittleEndian(header[24..]) != worldSize)
            {
                region.Dispose();
                throw new IOException($"{path} is not the region rank 0 created (its token differs)");
            }

            return region;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static SharedMemoryRegion Map(string path, FileStream stream, long length)
    {
        var file = MemoryMappedFile.CreateFromFile(stream, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        try
        {
            var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.ReadWrite);
            return new SharedMemoryRegion(path, file, view, length);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Removes the name; mappings stay valid. Safe to call more than once.</summary>
    public void Unlink() => TryUnlink(Path);

    private static void TryUnlink(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing more can be done; the name is random and the file small.
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
