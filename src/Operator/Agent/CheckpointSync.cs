using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Agent;

/// <summary>
/// A complete checkpoint the agent has synced: its URI (a file, or the prefix of a checkpoint directory such as
/// `checkpoint-500/`), total size, when it was saved (the newest write time of its files), and the step or epoch
/// when its name carries one (`epoch-0003.ckpt`, `step-4200.pt`, `checkpoint-500`).
/// </summary>
public sealed record CheckpointReport(string Uri, long Size, DateTimeOffset SavedAt, long? Step = null, int? Epoch = null)
{
    /// <summary>"epoch 3" / "step 4200", or the URI's last segment when the name carries neither.</summary>
    public string Describe() =>
        Step is { } step ? "step " + step.ToString(CultureInfo.InvariantCulture)
        : Epoch is { } epoch ? "epoch " + epoch.ToString(CultureInfo.InvariantCulture)
        : Uri[(Uri.TrimEnd('/').LastIndexOf('/') + 1)..];
}

/// <summary>
/// Mirrors `/opt/ml/checkpoints` to `spec.checkpoint.uri`: uploads completed files that changed (never a file still
/// being written, see <see cref="ObjectTransfer.IsInProgress"/>), then deletes the objects of files that were removed
/// locally (a trainer keeping only its latest checkpoints), so the remote prefix never grows without bound and never
/// offers a pruned checkpoint to resume from. New files go up before old ones are deleted, so the prefix always holds a
/// complete checkpoint. Only objects this replica uploaded or downloaded are ever deleted.
/// </summary>
public sealed partial class CheckpointSync(string directory, string checkpointUri) : IDisposable
{
    private readonly UploadTracker _tracker = new();

    // One pass at a time: the periodic sync and the final one must not interleave their uploads and deletes.
    private readonly SemaphoreSlim _pass = new(1, 1);

    /// <inheritdoc />
    public void Dispose() => _pass.Dispose();

    /// <summary>The latest complete checkpoint synced so far, or null.</summary>
    public CheckpointReport? Latest { get; private set; }

    /// <summary>Marks the files already present (downloaded from earlier attempts) as synced.</summary>
    public void RecordExisting() => _tracker.RecordExisting(directory);

    /// <summary>One sync pass; returns the latest complete checkpoint now in the store, or null when there is none.</summary>
    public async Task<CheckpointReport?> SyncAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        await _pass.WaitAsync(cancellationToken);
        try
        {
            await ObjectTransfer.UploadDirectoryAsync(store, directory, cancellationToken, _tracker);
            var present = ObjectTransfer.CompletedFiles(directory).Select(f => f.Key).ToHashSet(StringComparer.Ordinal);
            foreach (var removed in _tracker.Keys.Where(k => !present.Contains(k)).ToList())
            {
                await store.DeleteAsync(removed, cancellationToken);
                _tracker.Forget(removed);
            }

            Latest = Newest() ?? Latest;
            return Latest;
        }
        finally
        {
            _pass.Release();
        }
    }

    /// <summary>The newest checkpoint whose files are all synced: a top-level file, or a top-level directory as a whole.</summary>
    private CheckpointReport? Newest() => NewestOf(
        checkpointUri,
        ObjectTransfer.CompletedFiles(directory)
            .Where(f => f.File.Exists)
            .Select(f => new CheckpointFile(f.Key, f.File.Length, DateTime.SpecifyKind(f.File.LastWriteTimeUtc, DateTimeKind.Utc))),
        group => group.All(f => _tracker.IsCurrent(f.Key, (f.Size, f.Written))));

    /// <summary>One file of a checkpoint: its key under the checkpoint location, size and last write (UTC).</summary>
    public sealed record CheckpointFile(string Key, long Size, DateTime Written);

    /// <summary>
    /// The newest checkpoint among <paramref name="files"/> (keys under <paramref name="checkpointUri"/>): each top-level
    /// file is one, and each top-level directory as a whole (`checkpoint-500/`); files still being written (`.tmp`,
    /// `.part`) are left out, and so is a checkpoint that <paramref name="complete"/> refuses. Newest by last write, then
    /// by the number in its name; null when there is none.
    /// </summary>
    public static CheckpointReport? NewestOf(string checkpointUri, IEnumerable<CheckpointFile> files, Func<IReadOnlyList<CheckpointFile>, bool>? complete = null)
    {
        var newest = files
            .Where(f => !ObjectTransfer.IsInProgress(f.Key))
            .GroupBy(f => f.Key.Split('/')[0], StringComparer.Ordinal)
            .Select(g => (Name: g.Key, IsDirectory: g.Any(f => f.Key.Contains('/')), Files: (IReadOnlyList<CheckpointFile>)[.. g]))
            .Where(g => complete is null || complete(g.Files))
            .OrderByDescending(g => g.Files.Max(f => f.Written))
            .ThenByDescending(g => NumberIn(g.Name).Value ?? -1)
            .FirstOrDefault();
        if (newest.Files is null)
        {
            return null;
        }

        var (kind, number) = NumberIn(newest.Name);
        var uri = checkpointUri.TrimEnd('/') + "/" + newest.Name + (newest.IsDirectory ? "/" : "");
        return new CheckpointReport(
            uri,
            newest.Files.Sum(f => f.Size),
            new DateTimeOffset(DateTime.SpecifyKind(newest.Files.Max(f => f.Written), DateTimeKind.Utc)),
            kind == "epoch" ? null : number,
            kind == "epoch" && number is { } epoch ? (int)Math.Min(epoch, int.MaxValue) : null);
    }

    /// <summary>The step or epoch a checkpoint's name carries: `epoch-3`, `step_4200`, `checkpoint-500` (a step, as Hugging Face names them).</summary>
    public static (string? Kind, long? Value) NumberIn(string name)
    {
        var match = NumberedName().Match(name);
        if (!match.Success || !long.TryParse(match.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return (null, null);
        }

        return (string.Equals(match.Groups["kind"].Value, "epoch", StringComparison.OrdinalIgnoreCase) ? "epoch" : "step", value);
    }

    [GeneratedRegex(@"(?<![A-Za-z])(?<kind>epoch|step|iter|iteration|checkpoint|ckpt|global_step)[-_]?(?<n>[0-9]{1,18})(?![0-9])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NumberedName();
}
