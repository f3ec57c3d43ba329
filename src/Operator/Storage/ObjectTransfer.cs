namespace Ferry.Operator.Storage;

/// <summary>Directory-level transfers on top of <see cref="IObjectStore"/>: download a (sharded) listing, upload a tree.</summary>
public static class ObjectTransfer
{
    /// <summary>Downloads <paramref name="objects"/> into <paramref name="directory"/> keeping their relative keys as paths.</summary>
    public static async Task<int> DownloadAsync(IObjectStore store, IReadOnlyList<StoredObject> objects, string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        foreach (var item in objects)
        {
            await store.DownloadAsync(item.Key, Path.Combine(directory, item.Key), cancellationToken);
        }

        return objects.Count;
    }

    /// <summary>Downloads every object under the store's location into <paramref name="directory"/>.</summary>
    public static async Task<int> DownloadAllAsync(IObjectStore store, string directory, CancellationToken cancellationToken) =>
        await DownloadAsync(store, await store.ListAsync(cancellationToken), directory, cancellationToken);

    /// <summary>Uploads one file as <paramref name="key"/>.</summary>
    public static Task UploadFileAsync(IObjectStore store, string path, string key, CancellationToken cancellationToken) =>
        store.UploadAsync(path, key, cancellationToken);

    /// <summary>
    /// File names that mark a file still being written (`.tmp`, `.temp`, `.part`, `.partial`, and this store's own
    /// `.ferry-upload`): a trainer that saves atomically writes such a file and renames it when complete.
    /// </summary>
    private static readonly string[] InProgressSuffixes = [".tmp", ".temp", ".part", ".partial", ".ferry-upload"];

    /// <summary>True when <paramref name="path"/> names a file still being written (see <see cref="InProgressSuffixes"/>), never to be copied.</summary>
    public static bool IsInProgress(string path)
    {
        var name = Path.GetFileName(path);
        return InProgressSuffixes.Any(suffix => name.EndsWith(suffix, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The completed files under <paramref name="directory"/> (relative keys with `/`, ordinal order); in-progress files are left out.</summary>
    public static IReadOnlyList<(string Key, FileInfo File)> CompletedFiles(string directory) =>
        !Directory.Exists(directory)
            ? []
            : [.. Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
                .Where(path => !IsInProgress(path))
                .Order(StringComparer.Ordinal)
                .Select(path => (Path.GetRelativePath(directory, path).Replace('\\', '/'), new FileInfo(path)))];

    /// <summary>
    /// Uploads every completed file under <paramref name="directory"/> with its relative path as key (files still
    /// being written are skipped: see <see cref="IsInProgress"/>). With a <paramref name="tracker"/>, files whose size
    /// and write time are unchanged since the last upload are skipped. Returns how many files were uploaded.
    /// </summary>
    public static async Task<int> UploadDirectoryAsync(IObjectStore store, string directory, CancellationToken cancellationToken, UploadTracker? tracker = null)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        var uploaded = 0;
        foreach (var (key, info) in CompletedFiles(directory))
        {
            if (!info.Exists)
            {
                // Renamed or removed since the listing (a trainer pruning old checkpoints): the next sync sees why.
                continue;
            }

            var path = info.FullName;
            var stamp = (info.Length, info.LastWriteTimeUtc);
            if (tracker is not null && tracker.IsCurrent(key, stamp))
            {
                continue;
            }

            await store.UploadAsync(path, key, cancellationToken);
            tracker?.Record(key, stamp);
            uploaded++;
        }

        return uploaded;
    }
}

/// <summary>Remembers the size and write time of each uploaded file so a periodic sync uploads only what changed.</summary>
public sealed class UploadTracker
{
    private readonly Dictionary<string, (long Length, DateTime WriteTime)> _uploaded = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="key"/> was uploaded with exactly this size and write time.</summary>
    public bool IsCurrent(string key, (long Length, DateTime WriteTime) stamp) =>
        _uploaded.TryGetValue(key, out var previous) && previous == stamp;

    /// <summary>Records an upload (also used to mark files that were downloaded, so they are not sent back).</summary>
    public void Record(string key, (long Length, DateTime WriteTime) stamp) => _uploaded[key] = stamp;

    /// <summary>Forgets <paramref name="key"/> (its object was deleted).</summary>
    public void Forget(string key) => _uploaded.Remove(key);

    /// <summary>Every key uploaded (or marked) so far.</summary>
    public IReadOnlyCollection<string> Keys => _uploaded.Keys;

    /// <summary>Marks every file currently under <paramref name="directory"/> as uploaded.</summary>
    public void RecordExisting(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var (key, info) in ObjectTransfer.CompletedFiles(directory))
        {
            Record(key, (info.Length, info.LastWriteTimeUtc));
        }
    }
}
