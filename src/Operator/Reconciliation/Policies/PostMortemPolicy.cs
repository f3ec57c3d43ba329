using System.Globalization;
using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// What survives a failed attempt after its replicas are gone: `status.attemptFailures` (the last
/// <see cref="AttemptFailure.Kept"/> attempts) and `status.checkpoint`. The record is written in the same pass that
/// decides the restart or the failure — before anything is deleted (status first) — from what the backend observed:
/// the replica that failed first (earliest end of its process, then lowest index), its exit code or signal, the kubelet's verdict
/// (OOM-killed, evicted, preempted), the failure file, the last lines of its output and where the logs were copied.
/// Replicas of that attempt that fail on their own afterwards (the cascade of a broken collective) are added while
/// they are still observed; replicas the operator stopped are not failures and are left out.
/// Backend-neutral: a remote-job backend fills the same fields of its <see cref="ReplicaObservation"/>
/// (see <see cref="RemoteFailureDetails"/>).
/// </summary>
public static class PostMortemPolicy
{
    /// <summary>Records the post-mortem of the current attempt, which <paramref name="failure"/> ended.</summary>
    public static void Record(DecisionContext c, FailurePolicy.AttemptFailure failure)
    {
        var units = c.Units.Where(r => r.Attempt == c.Attempt).ToList();
        var first = failure.Index is { } index
            ? units.Where(r => r.Index == index).OrderBy(r => r.State == ReplicaState.Failed ? 0 : 1).FirstOrDefault()
            : null;
        var record = new AttemptFailure
        {
            Attempt = c.Attempt,
            Time = c.Now,
            // A remote job is one unit; the host that failed (algo-N) gives the rank.
            Replica = c.Input.Traits.RemoteJob && RankOfHost(first?.Node) is { } rank ? rank : failure.Index,
            Pod = first?.Name,
            Node = first?.Node,
            ExitCode = first?.State == ReplicaState.Failed ? first.ExitCode : null,
            Signal = first?.State == ReplicaState.Failed ? SignalOf(first.ExitCode) : null,
            Cause = CauseOf(first, failure),
            Message = DecisionContext.Cut(failure.Reason),
            LogTail = first?.LogTail is { } tail ? Bound(tail, 2048) : null,
            // A remote job links its failing host's log stream; replicas copy their logs into one folder per attempt.
            Logs = c.Input.Traits.RemoteJob ? first?.LogUri : LogsOf(units),
        };
        if (!c.Input.Traits.RemoteJob)
        {
            AddLaterFailures(record, units);
        }

        var kept = (c.Status.AttemptFailures ?? []).Where(f => f.Attempt != c.Attempt).Append(record).ToList();
        c.Status.AttemptFailures = [.. kept.Skip(Math.Max(0, kept.Count - AttemptFailure.Kept))];
    }

    /// <summary>
    /// Completes the recorded attempts from what is still observed of them: replicas that failed after the first, and
    /// the log location once a replica reported it.
    /// </summary>
    public static void Complete(DecisionContext c)
    {
        if (c.Status.AttemptFailures is not { Count: > 0 } records)
        {
            return;
        }

        foreach (var record in records)
        {
            var units = c.Units.Where(r => r.Attempt == record.Attempt).ToList();
            if (units.Count == 0 || c.Input.Traits.RemoteJob)
            {
                continue; // a remote job's record is complete when it is made
            }

            AddLaterFailures(record, units);
            record.Logs ??= LogsOf(units);
            if (record.LogTail is null && units.FirstOrDefault(r => r.Index == record.Replica && r.State == ReplicaState.Failed)?.LogTail is { } tail)
            {
                record.LogTail = Bound(tail, 2048);
            }
        }
    }

    /// <summary>Takes the newest checkpoint any replica reported into `status.checkpoint`.</summary>
    public static void RecordCheckpoint(DecisionContext c)
    {
        var newest = c.Units
            .Where(r => r.Checkpoint is not null)
            .OrderByDescending(r => r.Checkpoint!.SavedAt)
            .FirstOrDefault();
        if (newest?.Checkpoint is not { } reported)
        {
            return;
        }

        var savedAt = DecisionContext.Truncate(reported.SavedAt.UtcDateTime);
        if (c.Status.Checkpoint is { } known
            && ((known.SavedAt is { } knownAt && DecisionContext.Utc(knownAt) > savedAt)
                || (known.Uri == reported.Uri && known.SavedAt is { } same && DecisionContext.Utc(same) == savedAt)))
        {
            return;
        }

        c.Status.Checkpoint = new CheckpointStatus
        {
            Uri = reported.Uri,
            Size = reported.Size,
            SavedAt = savedAt,
            Step = reported.Step,
            Epoch = reported.Epoch,
            Attempt = newest.Attempt,
        };
    }

    /// <summary>
    /// Where the next attempt starts, for status messages: the recorded checkpoint ("from epoch 3 (s3://…, saved
    /// 12:03:07 UTC)"), else the checkpoint location, else from the beginning.
    /// </summary>
    public static string ResumeFrom(TrainingJobSpec spec, TrainingJobStatus status)
    {
        if (spec.Checkpoint?.Uri is not { Length: > 0 } uri)
        {
            return "from the beginning (spec.checkpoint is not set)";
        }

        if (status.Checkpoint is not { } checkpoint)
        {
            return $"from the last checkpoint in {uri} (none reported yet)";
        }

        var what = checkpoint.Step is { } step ? $"step {step.ToString(CultureInfo.InvariantCulture)}"
            : checkpoint.Epoch is { } epoch ? $"epoch {epoch.ToString(CultureInfo.InvariantCulture)}"
            : "checkpoint";
        var saved = checkpoint.SavedAt is { } at ? $", saved {DecisionContext.Utc(at):HH:mm:ss} UTC" : "";
        return $"from {what} ({checkpoint.Uri}{saved})";
    }

    /// <summary>The signal that ended a process from its exit code (128 + n, as shells and the kubelet report it), or null.</summary>
    public static string? SignalOf(int? exitCode) => exitCode switch
    {
        > 128 and <= 128 + 64 => (exitCode - 128) switch
        {
            1 => "SIGHUP",
            2 => "SIGINT",
            3 => "SIGQUIT",
            4 => "SIGILL",
            6 => "SIGABRT",
            7 => "SIGBUS",
            8 => "SIGFPE",
            9 => "SIGKILL",
            11 => "SIGSEGV",
            13 => "SIGPIPE",
            15 => "SIGTERM",
            var n => "signal " + n!.Value.ToString(CultureInfo.InvariantCulture),
        },
        _ => null,
    };

    private static string CauseOf(ReplicaObservation? first, FailurePolicy.AttemptFailure failure)
    {
        if (first?.Cause is { } cause)
        {
            return cause;
        }

        if (failure.Disruption is not null)
        {
            return "Disrupted";
        }

        if (failure.Index is null)
        {
            return "StartupTimeout";
        }

        return first?.State == ReplicaState.Failed ? "Error" : "Vanished";
    }

    /// <summary>The rank of a remote job's host (`algo-2` → 1), or null.</summary>
    private static int? RankOfHost(string? host) =>
        host is { Length: > 5 } && host.StartsWith("algo-", StringComparison.Ordinal)
            && int.TryParse(host.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
            ? n - 1
            : null;

    private static void AddLaterFailures(AttemptFailure record, IReadOnlyList<ReplicaObservation> units)
    {
        var listed = (record.FailedAfter ?? []).Select(f => f.Replica).ToHashSet();
        var later = units
            .Where(r => r.State == ReplicaState.Failed && !r.StoppedByRequest && r.Index != record.Replica && !listed.Contains(r.Index))
            .OrderBy(r => r.EndedAtForOrdering)
            .ThenBy(r => r.Index)
            .Select(r => new ReplicaFailure { Replica = r.Index, ExitCode = r.ExitCode, Signal = SignalOf(r.ExitCode), Cause = r.Cause ?? "Error", Node = r.Node })
            .ToList();
        if (later.Count == 0 || listed.Count >= AttemptFailure.FailedAfterKept)
        {
            return;
        }

        record.FailedAfter = [.. (record.FailedAfter ?? []).Concat(later).Take(AttemptFailure.FailedAfterKept)];
    }

    /// <summary>The folder the attempt's replicas copied their logs to (`…/attempt-N/`), from any replica that reported its log.</summary>
    private static string? LogsOf(IReadOnlyList<ReplicaObservation> units) =>
        units.Select(r => r.LogUri).FirstOrDefault(u => u is not null) is { } log && log.LastIndexOf('/') is > 0 and var slash
            ? log[..(slash + 1)]
            : null;

    private static string Bound(string text, int characters) => text.Length <= characters ? text : text[^characters..];
}

/// <summary>
/// The post-mortem details a remote-job backend (SageMaker) knows about a failed job, beyond its failure reason: the
/// status transition that failed (e.g. `Training` or `Downloading`), the host that failed (`algo-2`), a link to that
/// host's log stream, and the last lines of that stream (masked). Set on <see cref="RemoteJobObservation.FailureDetails"/>;
/// the status function records them in `status.attemptFailures` as it does for replicas (cause, node, logs, logTail).
/// </summary>
public sealed record RemoteFailureDetails(string? FailedTransition = null, string? LogUri = null, string? LogTail = null, string? Host = null);
