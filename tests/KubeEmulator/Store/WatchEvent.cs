using System.Text;

namespace Ferry.KubeEmulator.Store;

/// <summary>The type of a watch event.</summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes</remarks>
public enum WatchEventType { Added, Modified, Deleted }

/// <summary>One committed change: the object after the change, and the object before it (for selector transitions).</summary>
public sealed record WatchEvent(long ResourceVersion, WatchEventType Type, ResourceCollection Collection, StoredObject Object, StoredObject? Previous)
{
    // One framed line per wire type ("ADDED", "MODIFIED", "DELETED"): watchers differ only in the type their selectors give
    // the event, so the line is built once per type and shared (read-only) by every watcher.
    private readonly byte[]?[] _frames = new byte[]?[3];

    /// <summary>The watch line <c>{"type":T,"object":OBJECT}\n</c> for this event's stored object bytes; built once per type.</summary>
    internal byte[] FrameOf(string wireType)
    {
        var slot = wireType switch
        {
            "ADDED" => 0,
            "MODIFIED" => 1,
            "DELETED" => 2,
            _ => throw new ArgumentOutOfRangeException(nameof(wireType), wireType, "not an object event type"),
        };
        return Volatile.Read(ref _frames[slot]) ?? Interlocked.CompareExchange(ref _frames[slot], Frame(wireType, Object.Json), null) ?? _frames[slot]!;
    }

    /// <summary>A watch line for <paramref name="wireType"/> and object bytes <paramref name="json"/>.</summary>
    internal static byte[] Frame(string wireType, ReadOnlySpan<byte> json)
    {
        var prefix = Encoding.UTF8.GetBytes($"{{\"type\":\"{wireType}\",\"object\":");
        var line = new byte[prefix.Length + json.Length + 2];
        prefix.CopyTo(line, 0);
        json.CopyTo(line.AsSpan(prefix.Length));
        line[^2] = (byte)'}';
        line[^1] = (byte)'\n';
        return line;
    }
}
