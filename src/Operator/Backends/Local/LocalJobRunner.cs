using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Controllers;
using k8s.Models;

namespace Ferry.Operator.Backends.Local;

/// <summary>
/// Runs one TrainingJob on this machine to the end with the operator's own <see cref="TrainingJobReconciler"/>: the
/// job lives in an <see cref="InMemoryTrainingJobStore"/> (there is no API server), its replicas in the
/// <see cref="LocalBackend"/>, and the reconciler runs again whenever a replica changes or a decision asks to.
/// </summary>
public sealed class LocalJobRunner(LocalBackend backend, TimeProvider time)
{
    /// <summary>Reason of the Stopped condition when the user interrupts the run.</summary>
    public const string InterruptedReason = "Interrupted";

    // Replica processes report every change; this only bounds how long a lost signal could delay a look.
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(5);

    /// <summary>Called after each status write with the stored job.</summary>
    public Action<TrainingJob>? StatusChanged { get; init; }

    /// <summary>Called with each event a reconcile records (the operator records them as Kubernetes Events).</summary>
    public Action<TrainingJobEvent>? EventRecorded { get; init; }

    /// <summary>
    /// Reconciles until the job is Succeeded, Failed or Stopped and every replica process has ended. Cancelling
    /// <paramref name="cancellationToken"/> stops the replicas and ends the job Stopped.
    /// </summary>
    public async Task<TrainingJob> RunAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var store = new InMemoryTrainingJobStore(time);
        var events = new InMemoryEventSink();
        events.Recorded += (_, recorded) => EventRecorded?.Invoke(recorded);
        var created = store.Create(job);
        var ns = created.Metadata.NamespaceProperty;
        var name = created.Metadata.Name;
        var statusWrites = 0;
        store.Changed += (_, _) =>
        {
            if (store.StatusWrites != statusWrites && store.GetAsync(ns, name, CancellationToken.None).Result is { } stored)
            {
                statusWrites = store.StatusWrites;
                StatusChanged?.Invoke(stored);
            }
        };

        var reconciler = new TrainingJobReconciler(store, [backend], events, time);
        try
        {
            while (true)
            {
                var result = await reconciler.ReconcileAsync(ns, name, cancellationToken);
                var current = await store.GetAsync(ns, name, cancellationToken)
                    ?? throw new InvalidOperationException($"TrainingJob {name} disappeared from the run's store.");
                if (TrainingJobStatusCalculator.IsFinished(current.Status?.Phase))
                {
                    await backend.StopAllAsync();
                    return current;
                }

                var wait = result is ReconcileResult.RequeueAfterResult { Delay: var delay } && delay < LongestWait ? delay : LongestWait;
                await backend.WaitForChangeAsync(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await backend.StopAllAsync();
            var current = await store.GetAsync(ns, name, CancellationToken.None) ?? created;
            var status = Stopped(current.Status, time.GetUtcNow().UtcDateTime, current.Metadata.Generation ?? 1);
            return await store.WriteStatusAsync(current, status, CancellationToken.None);
        }
    }

    // The reconciler has no notion of a user interrupting `ferry run`; this is the Stopped status it ends with.
    private static TrainingJobStatus Stopped(TrainingJobStatus? previous, DateTime now, long generation)
    {
        now = new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        var status = previous is null
            ? new TrainingJobStatus()
            : k8s.KubernetesJson.Deserialize<TrainingJobStatus>(k8s.KubernetesJson.Serialize(previous));
        var conditions = status.Conditions?.ToList() ?? new List<V1Condition>();
        status.Phase = TrainingJobPhase.Stopped;
        status.ObservedGeneration = generation;
        status.CompletionTime = now;
        status.Duration = status.StartTime is { } began ? TrainingJobStatus.FormatDuration(now - began) : null;
        status.Replicas = new ReplicaStatus();
        if (ConditionList.Find(conditions, TrainingJobConditions.Running) is not null)
        {
            ConditionList.Set(conditions, TrainingJobConditions.Running, false, InterruptedReason, "The job was stopped.", generation, now);
        }

        ConditionList.Set(conditions, TrainingJobConditions.Stopped, true, InterruptedReason,
            "The run was interrupted (Ctrl-C) and every replica was stopped. Run it again to start over; with spec.checkpoint it resumes from the last checkpoint.",
            generation, now);
        status.Conditions = conditions;
        return status;
    }
}
