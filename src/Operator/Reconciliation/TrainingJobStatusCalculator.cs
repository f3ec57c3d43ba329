using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Storage;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// The pure decision of a reconcile: from the job, its observed replicas and the time, what the status says
/// (phase, conditions, attempt, counts, metrics, artifacts, failure reason) and what the backend must do
/// (start an attempt's replicas, delete replicas, delete the finished job). No I/O, no clock: table-tested.
/// </summary>
/// <remarks>
/// Gang semantics: an attempt runs only when all replicas run; when any replica fails, every replica of the attempt
/// is deleted and — once they are gone (pod names are reused) — attempt + 1 starts, until `maxRetries` restarts are
/// used up. Suspending deletes the replicas and does not use up a retry: resuming re-creates the current attempt's
/// replicas, which resume from the checkpoints.
/// </remarks>
public static class TrainingJobStatusCalculator
{
    /// <summary>Reasons written to conditions and events.</summary>
    public static class Reasons
    {
        public const string PodsCreated = "PodsCreated";
        public const string ReplicasStarting = "ReplicasStarting";
        public const string AllReplicasRunning = "AllReplicasRunning";
        public const string Restarting = "Restarting";
        public const string WaitingForPreviousAttempt = "WaitingForPreviousAttempt";
        public const string Succeeded = "Succeeded";
        public const string ReplicaFailed = "ReplicaFailed";
        public const string MaxRetriesExceeded = "MaxRetriesExceeded";
        public const string MaxRuntimeExceeded = "MaxRuntimeExceeded";
        public const string MaxWaitExceeded = "MaxWaitExceeded";
        public const string InvalidSpec = "InvalidSpec";
        public const string Suspended = "Suspended";
        public const string Resumed = "Resumed";
        public const string Failed = "Failed";
    }

    /// <summary>Decides status and actions for <paramref name="input"/>.</summary>
    public static TrainingJobDecision Compute(TrainingJobObservation input)
    {
        var job = input.Job;
        var spec = job.Spec;
        var previous = job.Status;
        var now = Truncate(input.Now.UtcDateTime);
        var generation = job.Metadata.Generation ?? 0;
        var status = Clone(previous);
        status.ObservedGeneration = generation;
        var conditions = status.Conditions?.ToList() ?? [];
        var events = new List<TrainingJobEvent>();
        var replicas = spec.Resources?.Replicas ?? 1;
        var live = input.Replicas.Where(r => !r.Terminating).ToList();

        TrainingJobDecision Finish(ReplicaStart? start, IReadOnlyList<ReplicaObservation> delete, TimeSpan? requeue, bool deleteJob = false)
        {
            status.Conditions = conditions.Count == 0 ? null : conditions;
            return new TrainingJobDecision(status, start, delete, deleteJob, requeue, events);
        }

        if (IsFinished(previous?.Phase))
        {
            // Settled: only the pod clean-up policy and the TTL still act.
            var (deleteJob, ttlWait) = TimeToLive(spec, status, now);
            return Finish(null, CleanUp(spec, live), ttlWait, deleteJob);
        }

        status.Artifacts = Artifacts(job, status.Artifacts);
        status.Experiment = spec.Experiment;

        if (input.InvalidSpec is { } invalid)
        {
            Fail(status, conditions, events, Reasons.InvalidSpec, invalid, invalid, generation, now);
            var (deleteJob, ttlWait) = TimeToLive(spec, status, now);
            return Finish(null, live, ttlWait, deleteJob);
        }

        var attempt = Math.Max(previous?.Attempt ?? 0, 1);
        status.Attempt = attempt;
        var current = live.Where(r => r.Attempt == attempt).ToList();
        UpdateMetrics(status, current);
        status.Replicas = Count(current);

        if (status.StartTime is null && input.Replicas.Any(r => r.State != ReplicaState.Pending))
        {
            status.StartTime = Truncate(input.Replicas.Where(r => r.StartedAt is not null).Select(r => r.StartedAt!.Value).DefaultIfEmpty(now).Min());
        }

        if (spec.Suspend)
        {
            status.Phase = TrainingJobPhase.Suspended;
            status.Replicas = new ReplicaStatus();
            ConditionList.Set(conditions, TrainingJobConditions.Suspended, true, Reasons.Suspended,
                "spec.suspend is true: the replicas were stopped. Set spec.suspend to false to resume from the last checkpoint.", generation, now);
            ConditionList.Set(conditions, TrainingJobConditions.Running, false, Reasons.Suspended, "The job is suspended.", generation, now);
            if (previous?.Phase != TrainingJobPhase.Suspended)
            {
                events.Add(new(TrainingJobEvent.Normal, Reasons.Suspended, $"Suspended attempt {attempt}: deleting its replicas."));
            }

            return Finish(null, live, null);
        }

        if (ConditionList.IsTrue(conditions, TrainingJobConditions.Suspended))
        {
            ConditionList.Set(conditions, TrainingJobConditions.Suspended, false, Reasons.Resumed,
                $"spec.suspend is false: attempt {attempt} resumes from the last checkpoint.", generation, now);
            events.Add(new(TrainingJobEvent.Normal, Reasons.Resumed, $"Resumed: re-creating the replicas of attempt {attempt}."));
        }

        TimeSpan? deadlineWait = null;
        if (spec.StoppingCondition?.MaxRuntimeSeconds is { } maxRuntime && status.StartTime is { } startTime)
        {
            var deadline = DateTime.SpecifyKind(startTime, DateTimeKind.Utc).AddSeconds(maxRuntime);
            if (now >= deadline)
            {
                var message = $"The job ran longer than spec.stoppingCondition.maxRuntimeSeconds ({maxRuntime}s) and was stopped; raise the limit or make training shorter.";
                Fail(status, conditions, events, Reasons.MaxRuntimeExceeded, message, message, generation, now);
                var (deleteJob, ttlWait) = TimeToLive(spec, status, now);
                return Finish(null, [.. live.Where(r => r.IsActive), .. CleanUp(spec, live.Where(r => !r.IsActive).ToList())], ttlWait, deleteJob);
            }

            deadlineWait = deadline - now;
        }

        if (spec.Spot && spec.StoppingCondition?.MaxWaitSeconds is { } maxWait && job.Metadata.CreationTimestamp is { } created)
        {
            // SageMaker's MaxWaitTimeInSeconds: spot capacity wait plus training, counted from the job's creation.
            var waitDeadline = DateTime.SpecifyKind(created, DateTimeKind.Utc).AddSeconds(maxWait);
            if (now >= waitDeadline)
            {
                var message = $"The spot job did not finish within spec.stoppingCondition.maxWaitSeconds ({maxWait}s) of its creation (waiting for spot capacity included); raise the limit or set spec.spot: false.";
                Fail(status, conditions, events, Reasons.MaxWaitExceeded, message, message, generation, now);
                var (deleteJob, ttlWait) = TimeToLive(spec, status, now);
                return Finish(null, [.. live.Where(r => r.IsActive), .. CleanUp(spec, live.Where(r => !r.IsActive).ToList())], ttlWait, deleteJob);
            }

            deadlineWait = deadlineWait is { } runtimeWait && runtimeWait < waitDeadline - now ? runtimeWait : waitDeadline - now;
        }

        // A replica that vanished after its gang started (pod deleted or evicted) fails the attempt like a crash:
        // a fresh replica cannot join ranks that are already training.
        var startedGang = current.Any(r => r.State != ReplicaState.Pending);
        var vanished = startedGang
            ? Enumerable.Range(0, replicas).Except(current.Select(r => r.Index)).Select(i => (int?)i).FirstOrDefault()
            : null;
        var failedReplica = current.Where(r => r.State == ReplicaState.Failed).OrderBy(r => r.Index).FirstOrDefault()
            ?? (vanished is { } lost
                ? new ReplicaObservation($"{job.Metadata.Name}-{lost}", lost, attempt, ReplicaState.Failed,
                    Message: $"Replica {lost} of attempt {attempt} disappeared while the others ran (its pod was deleted or evicted).")
                : null);
        if (failedReplica is { } failed)
        {
            var reason = FailureText(failed);
            if (attempt - 1 < spec.MaxRetries)
            {
                var message = $"Replica {failed.Index} failed on attempt {attempt}: {reason} Starting attempt {attempt + 1} of {spec.MaxRetries + 1} from the last checkpoint.";
                status.Attempt = attempt + 1;
                status.Phase = TrainingJobPhase.Pending;
                status.Replicas = new ReplicaStatus();
                ConditionList.Set(conditions, TrainingJobConditions.Running, false, Reasons.Restarting, message, generation, now);
                events.Add(new(TrainingJobEvent.Warning, Reasons.Restarting, message));
                return Finish(null, live, deadlineWait);
            }

            var exhausted = spec.MaxRetries == 0
                ? $"Replica {failed.Index} failed: {reason}"
                : $"Replica {failed.Index} failed on attempt {attempt}, the last of {spec.MaxRetries + 1} (spec.maxRetries is {spec.MaxRetries}): {reason}";
            Fail(status, conditions, events, spec.MaxRetries == 0 ? Reasons.ReplicaFailed : Reasons.MaxRetriesExceeded, exhausted, reason, generation, now);
            var (deleteJob, ttlWait) = TimeToLive(spec, status, now);
            return Finish(null, CleanUp(spec, live), ttlWait, deleteJob);
        }

        var succeeded = current.Where(r => r.State == ReplicaState.Succeeded).Select(r => r.Index).Distinct().Count();
        if (succeeded >= replicas)
        {
            status.Phase = TrainingJobPhase.Succeeded;
            status.CompletionTime = now;
            status.Duration = status.StartTime is { } began ? TrainingJobStatus.FormatDuration(now - began) : null;
            status.FailureReason = null;
            var model = ModelUri(job, current);
            status.Artifacts ??= new ArtifactsStatus();
            status.Artifacts.Model = model;
            var message = $"All {replicas} replicas succeeded on attempt {attempt}." + (model is null ? "" : $" Model: {model}");
            ConditionList.Set(conditions, TrainingJobConditions.Running, false, Reasons.Succeeded, "Training finished.", generation, now);
            ConditionList.Set(conditions, TrainingJobConditions.Complete, true, Reasons.Succeeded, message, generation, now);
            events.Add(new(TrainingJobEvent.Normal, Reasons.Succeeded, message));
            var (deleteJob, ttlWait) = TimeToLive(spec, status, now);
            return Finish(null, CleanUp(spec, live), ttlWait, deleteJob);
        }

        var stale = live.Where(r => r.Attempt != attempt).ToList();
        var goingAway = input.Replicas.Where(r => r.Terminating).ToList();
        var missing = Enumerable.Range(0, replicas).Except(current.Select(r => r.Index)).ToArray();
        ReplicaStart? start = null;
        if (stale.Count > 0 || goingAway.Count > 0)
        {
            if (current.Count == 0)
            {
                status.Phase = TrainingJobPhase.Pending;
                ConditionList.Set(conditions, TrainingJobConditions.Running, false, Reasons.WaitingForPreviousAttempt,
                    $"Waiting for the replicas of the previous attempt to be deleted before starting attempt {attempt}.", generation, now);
                return Finish(null, stale, deadlineWait);
            }
        }
        else if (missing.Length > 0)
        {
            start = new ReplicaStart(attempt, missing);
            var message = $"Created {missing.Length} of {replicas} replicas for attempt {attempt}.";
            ConditionList.Set(conditions, TrainingJobConditions.Created, true, Reasons.PodsCreated, message, generation, now);
            events.Add(new(TrainingJobEvent.Normal, Reasons.PodsCreated, message));
            status.Replicas = new ReplicaStatus
            {
                Active = status.Replicas.Active + missing.Length,
                Succeeded = status.Replicas.Succeeded,
                Failed = status.Replicas.Failed,
            };
        }

        var running = current.Count(r => r.State == ReplicaState.Running);
        if (start is null && running > 0 && running + succeeded == replicas)
        {
            status.Phase = TrainingJobPhase.Running;
            ConditionList.Set(conditions, TrainingJobConditions.Running, true, Reasons.AllReplicasRunning,
                $"All {replicas} replicas of attempt {attempt} are running.", generation, now);
            if (previous?.Phase != TrainingJobPhase.Running)
            {
                events.Add(new(TrainingJobEvent.Normal, "Running", $"All {replicas} replicas of attempt {attempt} are running."));
            }
        }
        else
        {
            status.Phase = TrainingJobPhase.Starting;
            ConditionList.Set(conditions, TrainingJobConditions.Running, false, Reasons.ReplicasStarting,
                $"{running} of {replicas} replicas of attempt {attempt} are running.", generation, now);
        }

        return Finish(start, stale, deadlineWait);
    }

    /// <summary>Succeeded, Failed and Stopped are final: nothing restarts them.</summary>
    public static bool IsFinished(TrainingJobPhase? phase) =>
        phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed or TrainingJobPhase.Stopped;

    /// <summary>The failure text of a replica: the failure file's content from the termination message, else the exit code.</summary>
    public static string FailureText(ReplicaObservation replica)
    {
        var message = TerminationMessage.Parse(replica.Message, replica.ExitCode ?? -1);
        var text = message?.FailureReason
            ?? (replica.ExitCode is { } code ? $"exited with code {code.ToString(CultureInfo.InvariantCulture)}." : "failed without a reason.");
        return text.Length <= TerminationMessage.FailureReasonBytes ? text : text[..TerminationMessage.FailureReasonBytes];
    }

    private static void Fail(TrainingJobStatus status, List<V1Condition> conditions, List<TrainingJobEvent> events, string reason, string message, string failureReason, long generation, DateTime now)
    {
        status.Phase = TrainingJobPhase.Failed;
        status.CompletionTime = now;
        status.Duration = status.StartTime is { } began ? TrainingJobStatus.FormatDuration(now - began) : null;
        status.FailureReason = failureReason.Length <= TerminationMessage.FailureReasonBytes ? failureReason : failureReason[..TerminationMessage.FailureReasonBytes];
        if (ConditionList.Find(conditions, TrainingJobConditions.Running) is not null)
        {
            ConditionList.Set(conditions, TrainingJobConditions.Running, false, Reasons.Failed, "The job failed.", generation, now);
        }

        ConditionList.Set(conditions, TrainingJobConditions.Failed, true, reason, message, generation, now);
        events.Add(new(TrainingJobEvent.Warning, reason, message));
    }

    private static (bool DeleteJob, TimeSpan? Wait) TimeToLive(TrainingJobSpec spec, TrainingJobStatus status, DateTime now)
    {
        if (spec.InCluster?.TtlSecondsAfterFinished is not { } ttl || status.CompletionTime is not { } completed)
        {
            return (false, null);
        }

        var expiry = DateTime.SpecifyKind(completed, DateTimeKind.Utc).AddSeconds(ttl);
        return now >= expiry ? (true, null) : (false, expiry - now);
    }

    /// <summary>Which replicas a finished job deletes: `None` keeps all, `Running` deletes the active ones, `All` deletes all.</summary>
    private static IReadOnlyList<ReplicaObservation> CleanUp(TrainingJobSpec spec, IReadOnlyList<ReplicaObservation> live) =>
        (spec.InCluster?.CleanPodPolicy ?? CleanPodPolicy.Running) switch
        {
            CleanPodPolicy.None => [],
            CleanPodPolicy.All => live,
            _ => [.. live.Where(r => r.IsActive)],
        };

    private static ReplicaStatus Count(IReadOnlyList<ReplicaObservation> current) => new()
    {
        Active = current.Count(r => r.IsActive),
        Succeeded = current.Count(r => r.State == ReplicaState.Succeeded),
        Failed = current.Count(r => r.State == ReplicaState.Failed),
    };

    private static ArtifactsStatus? Artifacts(TrainingJob job, ArtifactsStatus? previous)
    {
        var checkpoints = job.Spec.Checkpoint?.Uri;
        var output = job.Spec.Output?.Uri is { Length: > 0 } uri ? uri.TrimEnd('/') + "/" + job.Metadata.Name + "/output" : null;
        if (checkpoints is null && output is null && previous?.Model is null)
        {
            return null;
        }

        return new ArtifactsStatus { Model = previous?.Model, Checkpoints = checkpoints, Output = output };
    }

    private static string? ModelUri(TrainingJob job, IReadOnlyList<ReplicaObservation> current)
    {
        var reported = current
            .Where(r => r.Index == 0 && r.State == ReplicaState.Succeeded)
            .Select(r => TerminationMessage.Parse(r.Message, r.ExitCode ?? 0)?.Model)
            .FirstOrDefault(m => m is not null);
        return reported ?? (job.Spec.Output?.Uri is { Length: > 0 } uri ? ArtifactLocations.ModelUri(uri, job.Metadata.Name) : null);
    }

    /// <summary>Latest metric values from finished replicas' termination messages; replica 0's values win.</summary>
    private static void UpdateMetrics(TrainingJobStatus status, IReadOnlyList<ReplicaObservation> current)
    {
        var metrics = (status.Metrics ?? []).ToDictionary(m => m.Name, StringComparer.Ordinal);
        var changed = false;
        foreach (var replica in current.Where(r => r.Message is not null).OrderByDescending(r => r.Index))
        {
            foreach (var metric in TerminationMessage.Parse(replica.Message, replica.ExitCode ?? 0)?.Metrics ?? [])
            {
                if (double.IsFinite(metric.Value))
                {
                    metrics[metric.Name] = new MetricValue { Name = metric.Name, Value = metric.Value, Timestamp = Truncate(metric.Timestamp.UtcDateTime) };
                    changed = true;
                }
            }
        }

        if (changed)
        {
            status.Metrics = [.. metrics.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];
        }
    }

    private static TrainingJobStatus Clone(TrainingJobStatus? status) =>
        status is null ? new TrainingJobStatus() : KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(status));

    private static DateTime Truncate(DateTime time)
    {
        var utc = time.Kind == DateTimeKind.Local ? time.ToUniversalTime() : DateTime.SpecifyKind(time, DateTimeKind.Utc);
        return new DateTime(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    }
}
