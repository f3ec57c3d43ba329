using System.Globalization;
using Ferry.Crds.V1Alpha1;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// Gang failure and retry. An attempt fails when a replica fails, when a replica of a started gang vanishes or is
/// deleted by someone else (a fresh replica cannot join ranks that are already training), or when it has not started
/// within the start-up deadline. A disruption (eviction, preemption, spot reclaim) restarts the job without using up
/// `maxRetries`, up to the operator's cap; a failure restarts it after an exponential backoff while retries remain,
/// else the job fails. Only the decision is recorded here: the replicas of the failed attempt are deleted in the next
/// pass, once the status says which attempt is current (<see cref="ProgressPolicy"/>) or that the job ended
/// (<see cref="FinishedPolicy"/>).
/// </summary>
public static class FailurePolicy
{
    /// <summary>What ended the current attempt.</summary>
    public sealed record AttemptFailure(int? Index, string Reason, string? Disruption);

    /// <summary>Records a restart or the job's failure when the current attempt failed.</summary>
    public static bool Decide(DecisionContext c)
    {
        if (Find(c) is not { } failure)
        {
            return false;
        }

        if (Settling(c) is { } settling)
        {
            // Nothing is decided while the gang finishes failing; the status says what it waits for.
            var running = c.Current.Where(r => r.State == ReplicaState.Running).Select(r => r.Index.ToString(CultureInfo.InvariantCulture));
            c.SetCondition(TrainingJobConditions.Running, true, R.Settling,
                $"{(failure.Index is { } failed ? $"Replica {failed.ToString(CultureInfo.InvariantCulture)}" : "A replica")} failed on attempt {c.Attempt}: {failure.Reason} " +
                $"Waiting up to {TrainingJobStatus.FormatDuration(c.Input.Settings.FailureSettle)} for replica(s) {string.Join(", ", running)} to end before deciding (lifecycle.failureSettleSeconds).");
            c.Requeue(settling);
            return true;
        }

        var attempt = c.Attempt;
        var spec = c.Spec;
        var disruptions = c.Status.Disruptions ?? 0;
        var retries = c.Status.Retries ?? Math.Max(attempt - 1 - disruptions, 0);
        var who = failure.Index is { } index ? $"Replica {index.ToString(CultureInfo.InvariantCulture)}" : "The attempt";
        var from = PostMortemPolicy.ResumeFrom(spec, c.Status);
        PostMortemPolicy.Record(c, failure);

        if (failure.Disruption is { } disruption && disruptions < c.Input.Settings.MaxDisruptions)
        {
            c.Status.Disruptions = disruptions + 1;
            var message = $"{who} of attempt {attempt} was disrupted ({disruption}). Starting attempt {attempt + 1} {from}; " +
                $"disruptions do not use up spec.maxRetries ({disruptions + 1} of at most {c.Input.Settings.MaxDisruptions}).";
            Restart(c, R.Disrupted, message, failure.Reason, backoff: TimeSpan.Zero);
            return true;
        }

        if (retries < spec.MaxRetries)
        {
            c.Status.Retries = retries + 1;
            var backoff = c.Input.Settings.BackoffAfter(retries + 1);
            var wait = backoff > TimeSpan.Zero ? $" in {TrainingJobStatus.FormatDuration(backoff)}" : "";
            var message = $"{who} failed on attempt {attempt}: {failure.Reason} Starting attempt {attempt + 1} of {spec.MaxRetries + 1 + disruptions}{wait} {from}.";
            Restart(c, R.Restarting, message, failure.Reason, backoff);
            return true;
        }

        var exhausted = spec.MaxRetries == 0
            ? $"{who} failed: {failure.Reason}"
            : $"{who} failed on attempt {attempt}, the last allowed (spec.maxRetries is {spec.MaxRetries}): {failure.Reason}";
        c.Fail(spec.MaxRetries == 0 ? R.ReplicaFailed : R.MaxRetriesExceeded, exhausted, failure.Reason);
        return true;
    }

    /// <summary>
    /// How much longer to wait before deciding, while replicas of the failed attempt still run and the first failure
    /// is younger than <see cref="LifecycleSettings.FailureSettle"/>; null to decide now. Timed by the replicas' ends
    /// (the kubelet's clock, as the operator's).
    /// </summary>
    public static TimeSpan? Settling(DecisionContext c)
    {
        var settle = c.Input.Settings.FailureSettle;
        var first = c.Current.Where(r => r.State == ReplicaState.Failed && r.FinishedAt is not null).Min(r => r.FinishedAt);
        if (settle <= TimeSpan.Zero || c.Input.Traits.RemoteJob || first is null || !c.Current.Any(r => r.State == ReplicaState.Running))
        {
            return null;
        }

        var left = DecisionContext.Utc(first.Value) + settle - c.Now;
        return left > TimeSpan.Zero ? left : null;
    }

    /// <summary>What ended the current attempt, or null while it is healthy.</summary>
    public static AttemptFailure? Find(DecisionContext c)
    {
        var current = c.Current;
        // The replica that failed first names the failure: the others usually fail because it did. Its process's end
        // decides (the agent reports it): containers end later, after the agent's wrap-up, which takes longer on rank 0.
        if (current.Where(r => r.State == ReplicaState.Failed).OrderBy(r => r.EndedAtForOrdering).ThenBy(r => r.Index).FirstOrDefault() is { } failed)
        {
            return new AttemptFailure(failed.Index, ReasonOf(failed), failed.Disruption);
        }

        var attemptUnits = c.Units.Where(r => r.Attempt == c.Attempt).ToList();
        var started = attemptUnits.Any(r => r.State != ReplicaState.Pending);
        if (started)
        {
            var present = current.Select(r => r.Index).ToHashSet();
            foreach (var index in Enumerable.Range(0, c.Required).Where(i => !present.Contains(i)))
            {
                var going = attemptUnits.FirstOrDefault(r => r.Index == index && r.Terminating);
                var what = going is null
                    ? $"Replica {index} of attempt {c.Attempt} disappeared while the others ran (its pod was deleted or evicted)."
                    : $"Replica {index} of attempt {c.Attempt} is being deleted while the others run{(going.Disruption is { } d ? $" ({d})" : "")}.";
                return new AttemptFailure(index, what, going?.Disruption);
            }
        }

        // A remote job that exists starts on the remote service's terms (capacity, spot waits), bounded by the
        // deadlines it enforces itself; the start-up deadline covers only an attempt that could not be created.
        var remoteExists = c.Input.Traits.RemoteJob && current.Count > 0;
        if (!remoteExists && c.Status.AttemptStartTime is { } attemptStart
            && !(current.Count(r => r.State is ReplicaState.Running or ReplicaState.Succeeded) >= c.Required))
        {
            var timeout = c.Input.Settings.StartupTimeout;
            var deadline = DecisionContext.Utc(attemptStart) + timeout;
            if (c.Now >= deadline && current.All(r => r.State != ReplicaState.Succeeded))
            {
                var blocked = Blocked(c);
                return new AttemptFailure(null,
                    $"Attempt {c.Attempt} did not start within {TrainingJobStatus.FormatDuration(timeout)} (the operator's start-up deadline){(blocked is null ? "." : $": {blocked}")}",
                    null);
            }
        }

        return null;
    }

    /// <summary>Why the attempt cannot start: the backend's refusal, else the first blocked replica's reason; or null.</summary>
    public static string? Blocked(DecisionContext c) =>
        c.Input.StartBlocked
        ?? c.Current.Where(r => r.Blocked is not null).OrderBy(r => r.Index).Select(r => $"replica {r.Index} ({r.Name}): {r.Blocked}").FirstOrDefault();

    /// <summary>The failure text of a replica: what it reported, else its exit code.</summary>
    public static string ReasonOf(ReplicaObservation replica) => DecisionContext.Cut(
        replica.FailureReason
        ?? (replica.ExitCode is { } code ? $"exited with code {code.ToString(CultureInfo.InvariantCulture)}." : "failed without a reason."));

    /// <summary>Records the start of the next attempt after the current one ended (its replicas are deleted in the next pass).</summary>
    internal static void Restart(DecisionContext c, string reason, string message, string failureReason, TimeSpan backoff)
    {
        c.Status.Attempt = c.Attempt + 1;
        c.Status.Phase = TrainingJobPhase.Pending;
        c.Status.Replicas = new ReplicaStatus();
        c.Status.AttemptStartTime = null;
        c.Status.NextAttemptTime = backoff > TimeSpan.Zero ? c.Now + backoff : null;
        c.Status.FailureReason = DecisionContext.Cut(failureReason);
        c.SetCondition(TrainingJobConditions.Running, false, reason, message);
        c.Event(TrainingJobEvent.Warning, reason, message);
        c.Requeue(backoff > TimeSpan.Zero && c.Live.Count == 0 ? backoff : TimeSpan.Zero);
    }
}
