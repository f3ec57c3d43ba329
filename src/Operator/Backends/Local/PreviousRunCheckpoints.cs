using System.Globalization;
using Ferry.Operator.Contract;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Backends.Local;

/// <summary>
/// `ferry run --resume` for a job without `spec.checkpoint.uri`: the checkpoints the previous run's rank 0 left in its
/// stand-in for /opt/ml (`&lt;work&gt;/&lt;job&gt;/attempt-N/algo-1/checkpoints`, latest attempt that has any) are moved
/// beside the job directory (`&lt;work&gt;/&lt;job&gt;.checkpoints`), which the new run then uses as its checkpoint location.
/// </summary>
public static class PreviousRunCheckpoints
{
    /// <summary>What was kept: the directory, the attempt it came from, and the newest checkpoint's name.</summary>
    public sealed record Kept(string Directory, int Attempt, string Latest);

    /// <summary>Keeps the previous run's latest checkpoints; null when it left none.</summary>
    public static Kept? Keep(LocalJobPlan plan)
    {
        var target = plan.JobDirectory.TrimEnd('/') + ".checkpoints";
        var source = LatestAttemptWithCheckpoints(plan);
        if (source is null)
        {
            // A second --resume after a run that wrote nothing new still has what the first one kept.
            return Newest(target) is { } kept ? new Kept(target, 0, kept) : null;
        }

        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        Directory.Move(source.Value.Directory, target);
        return new Kept(target, source.Value.Attempt, Newest(target)!);
    }

    private static (string Directory, int Attempt)? LatestAttemptWithCheckpoints(LocalJobPlan plan)
    {
        if (!Directory.Exists(plan.JobDirectory))
        {
            return null;
        }

        return Directory.EnumerateDirectories(plan.JobDirectory, "attempt-*")
            .Select(d => (Directory: Path.Combine(d, ContainerContract.HostName(0), ContainerContract.CheckpointsDirectory),
                Attempt: int.TryParse(Path.GetFileName(d)["attempt-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0))
            .Where(a => Newest(a.Directory) is not null)
            .OrderByDescending(a => a.Attempt)
            .Select(a => ((string, int)?)a)
            .FirstOrDefault();
    }

    private static string? Newest(string directory) =>
        ObjectTransfer.CompletedFiles(directory).OrderByDescending(f => f.File.LastWriteTimeUtc).Select(f => f.Key).FirstOrDefault();
}
