using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Telemetry;
using k8s;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Reconciles one TrainingJob in the order of STYLE.md: get (gone → done) → deletion? backend clean-up, remove the
/// finalizer, done → ensure the finalizer (only for backends that need one) → observe the backend → decide with the
/// pure <see cref="TrainingJobStatusCalculator"/> → carry out its actions → write the status once, only if it changed.
/// Runs against any <see cref="ITrainingJobStore"/> and any set of <see cref="ITrainingBackend"/>s, so the operator
/// (Kubernetes API, InCluster pods) and `ferry run` (memory, local processes) share it.
/// </summary>
public sealed class TrainingJobReconciler(
    ITrainingJobStore store,
    IEnumerable<ITrainingBackend> backends,
    ITrainingJobEventSink events,
    TimeProvider time,
    ILogger<TrainingJobReconciler>? logger = null,
    LifecycleSettings? settings = null) : IReconciler<TrainingJob>
{
    /// <summary>How long one clean-up call to a backend may take before the reconcile gives up and retries later.</summary>
    public static readonly TimeSpan CleanUpTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Condition set on a job being deleted whose backend this operator does not have.</summary>
    public const string CleanUpBlockedCondition = "CleanUpBlocked";

    private readonly Dictionary<TrainingJobBackend, ITrainingBackend> _backends = backends.ToDictionary(b => b.Backend);
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly LifecycleSettings _settings = settings ?? LifecycleSettings.Default;

    // The refusal a running job was last warned about, by uid: a running job is warned once per distinct refusal.
    private readonly ConcurrentDictionary<string, string> _warned = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var job = await store.GetAsync(ns, name, cancellationToken);
        if (job is null)
        {
            JobTelemetry.Forget(ns, name);
            return ReconcileResult.Done;
        }

        // Every line logged for this job carries its namespace, name and the attempt this pass works on (JSON logs show them as fields).
        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["namespace"] = ns, ["name"] = name, ["attempt"] = Math.Max(job.Status?.Attempt ?? 0, 1) });
        try
        {
            return await ReconcileAsync(job, cancellationToken);
        }
        catch (KubernetesApiException e) when (e.IsNotFound)
        {
            // The job (or its namespace) was deleted while this pass ran: its status or finalizer write answered 404.
            // Nothing is left to reconcile; if it still existed, its next watch event would bring it back.
            _logger.LogDebug("TrainingJob {Namespace}/{Name} is gone: {Message}", ns, name, e.Message);
            _warned.TryRemove(job.Metadata.Uid ?? "", out _);
            JobTelemetry.Forget(ns, name);
            return ReconcileResult.Done;
        }
    }

    private async Task<ReconcileResult> ReconcileAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var ns = job.Metadata.NamespaceProperty;
        var name = job.Metadata.Name;
        var backend = _backends.GetValueOrDefault(job.Spec.Backend);
        if (job.Metadata.DeletionTimestamp is not null)
        {
            JobTelemetry.Forget(ns, name);
            return await FinalizeAsync(job, backend, cancellationToken);
        }

        if (backend?.NeedsFinalizer == true)
        {
            job = await store.AddFinalizerAsync(job, TrainingJobLabels.Finalizer, cancellationToken);
        }

        if (Insight.Lineage.LineageRecorder.Labels(job) is { Count: > 0 } labels)
        {
            job = await store.SetLabelsAsync(job, labels, cancellationToken);
        }

        if (backend is not null && !job.Spec.Suspend && job.Status?.Phase is TrainingJobPhase.Starting or TrainingJobPhase.Running)
        {
            await backend.RepairAsync(job, cancellationToken);
        }

        var observed = backend is null || TrainingJobStatusCalculator.IsFinished(job.Status?.Phase) && backend.Traits.RemoteJob && !backend.MayRunAfterEnd(job)
            ? new BackendObservation([])
            : await backend.ObserveAsync(job, cancellationToken);
        var input = new TrainingJobObservation(job, observed.Replicas, time.GetUtcNow())
        {
            RemoteJobs = observed.RemoteJobs ?? [],
            Artifacts = observed.Artifacts,
            Traits = backend?.Traits ?? BackendTraits.Replicas,
            Settings = _settings,
        };
        var decision = TrainingJobStatusCalculator.Compute(input);

        // The spec is checked against this operator's backends and settings only before an attempt starts.
        var refusal = backend is null ? new BackendRefusal(TrainingJobStatusCalculator.Reasons.InvalidSpec, MissingBackend(job.Spec.Backend)) : backend.Refuse(job);
        if (decision.Start is { NewAttempt: true } && refusal is not null)
        {
            decision = TrainingJobStatusCalculator.Compute(input with { InvalidSpec = refusal.Message, InvalidSpecReason = refusal.Reason });
        }
        else
        {
            await WarnIfNowRefusedAsync(job, refusal?.Message, cancellationToken);
        }

        if (backend is not null)
        {
            if (decision.Delete.Count > 0)
            {
                await backend.DeleteAsync(job, decision.Delete, cancellationToken);
            }

            if (decision.Start is { } start)
            {
                try
                {
                    await backend.StartAsync(job, start, cancellationToken);
                }
                catch (TrainingJobRefusedException refused)
                {
                    // Terminal: recorded as a refused spec; what was started is stopped in the next pass. A remote API
                    // may quote the refused env or hyperparameter value: it never reaches the log, the Events or the status.
                    var refusedMessage = SpecValueRedaction.Redact(job.Spec, refused.Message);
                    _logger.LogWarning("TrainingJob {Namespace}/{Name} cannot run: {Reason}", ns, name, refusedMessage);
                    var after = await backend.ObserveAsync(job, cancellationToken);
                    decision = TrainingJobStatusCalculator.Compute(input with
                    {
                        Replicas = after.Replicas,
                        RemoteJobs = after.RemoteJobs ?? [],
                        InvalidSpec = refusedMessage,
                        InvalidSpecReason = refused.Reason,
                    });
                }
                catch (StartBlockedException blocked)
                {
                    // Not terminal (a quota may free up): shown in status, retried, bounded by the start-up deadline.
                    var blockedMessage = SpecValueRedaction.Redact(job.Spec, blocked.Message);
                    _logger.LogWarning("TrainingJob {Namespace}/{Name} cannot start yet: {Reason}", ns, name, blockedMessage);
                    var retry = TrainingJobStatusCalculator.Compute(input with { StartBlocked = blockedMessage });
                    decision = retry with { Start = null, RequeueAfter = Shortest(retry.RequeueAfter, TimeSpan.FromSeconds(10)) };
                }
            }
        }

        // Events (best effort, in order) go out while the status is written: neither waits for the other.
        var recorded = RecordAsync(job, decision.Events, cancellationToken);
        var read = job;
        try
        {
            if (!StatusEquals(job.Status, decision.Status))
            {
                job = await store.WriteStatusAsync(job, decision.Status, cancellationToken);
            }
        }
        finally
        {
            await recorded;
        }

        JobTelemetry.Observe(read, decision.Status, time.GetUtcNow());
        if (decision.DeleteJob)
        {
            JobTelemetry.Forget(ns, name);
            _logger.LogInformation("Deleting TrainingJob {Namespace}/{Name}: spec.inCluster.ttlSecondsAfterFinished has passed", ns, name);
            await store.DeleteAsync(job, cancellationToken);
            return ReconcileResult.Done;
        }

        var requeue = Shortest(decision.RequeueAfter, TrainingJobStatusCalculator.IsFinished(decision.Status.Phase) ? null : observed.PollAfter);
        return requeue is { } delay ? ReconcileResult.RequeueAfter(delay) : ReconcileResult.Done;
    }

    private async Task<ReconcileResult> FinalizeAsync(TrainingJob job, ITrainingBackend? backend, CancellationToken cancellationToken)
    {
        _warned.TryRemove(job.Metadata.Uid ?? "", out _);
        if (job.Metadata.Finalizers?.Contains(TrainingJobLabels.Finalizer) != true)
        {
            return ReconcileResult.Done;
        }

        if (backend is null)
        {
            // Releasing the job without the backend's clean-up could orphan what it runs (a remote job left billing).
            var message = $"The TrainingJob is being deleted, but this operator has no {job.Spec.Backend} backend to stop what the job runs, " +
                $"so the finalizer {TrainingJobLabels.Finalizer} stays. Run an operator version with the {job.Spec.Backend} backend, " +
                $"or, once you have stopped the job's work yourself, remove the finalizer: kubectl patch tj {job.Metadata.Name} --type=json -p '[{{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}}]'.";
            var status = KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(job.Status ?? new TrainingJobStatus()));
            var conditions = status.Conditions?.ToList() ?? [];
            var now = Policies.DecisionContext.Truncate(time.GetUtcNow().UtcDateTime);
            ConditionList.Set(conditions, CleanUpBlockedCondition, true, "BackendUnavailable", message, job.Metadata.Generation ?? 0, now);
            status.Conditions = conditions;
            if (!StatusEquals(job.Status, status))
            {
                await events.RecordAsync(job, new TrainingJobEvent(TrainingJobEvent.Warning, "BackendUnavailable", message), cancellationToken);
                await store.WriteStatusAsync(job, status, cancellationToken);
            }

            return ReconcileResult.Done;
        }

        // Bounded, so a hung backend cannot hold a worker; not tied to shutdown, so a finished clean-up is committed.
        using var timeout = new CancellationTokenSource(CleanUpTimeout, time);
        var wait = await backend.CleanUpAsync(job, timeout.Token);
        if (wait is { } later)
        {
            return ReconcileResult.RequeueAfter(later);
        }

        await store.RemoveFinalizerAsync(job, TrainingJobLabels.Finalizer, timeout.Token);
        return ReconcileResult.Done;
    }

    private async Task WarnIfNowRefusedAsync(TrainingJob job, string? refusal, CancellationToken cancellationToken)
    {
        var uid = job.Metadata.Uid ?? "";
        if (refusal is null || TrainingJobStatusCalculator.IsFinished(job.Status?.Phase))
        {
            _warned.TryRemove(uid, out _);
            return;
        }

        if (job.Status?.Phase is null || (_warned.TryGetValue(uid, out var last) && last == refusal))
        {
            return;
        }

        _warned[uid] = refusal;
        var message = $"This running job would now be refused, and it keeps running: {refusal}";
        _logger.LogWarning("TrainingJob {Namespace}/{Name}: {Message}", job.Metadata.NamespaceProperty, job.Metadata.Name, message);
        await events.RecordAsync(job, new TrainingJobEvent(TrainingJobEvent.Warning, "SpecNowRefused", message), cancellationToken);
    }

    private async Task RecordAsync(TrainingJob job, IReadOnlyList<TrainingJobEvent> trainingEvents, CancellationToken cancellationToken)
    {
        foreach (var trainingEvent in trainingEvents)
        {
            await events.RecordAsync(job, trainingEvent, cancellationToken);
        }
    }

    private static TimeSpan? Shortest(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>Semantic equality of two statuses: equal JSON, so a status read back from the API compares equal.</summary>
    public static bool StatusEquals(TrainingJobStatus? current, TrainingJobStatus desired)
    {
        if (current is null)
        {
            return false;
        }

        // Most reconciles change nothing, and then both serialize to the same text; only different texts need the
        // order-insensitive comparison (e.g. a map read back from the API in another order).
        var currentJson = KubernetesJson.Serialize(current);
        var desiredJson = KubernetesJson.Serialize(desired);
        return string.Equals(currentJson, desiredJson, StringComparison.Ordinal)
            || JsonNode.DeepEquals(JsonNode.Parse(currentJson), JsonNode.Parse(desiredJson));
    }

    private static string MissingBackend(TrainingJobBackend backend) => backend switch
    {
        TrainingJobBackend.SageMaker =>
            "spec.backend is SageMaker, but this operator was started without its SageMaker backend. " +
            "Run the operator with its default controllers (`ferry operator`), or use spec.backend: InCluster.",
        TrainingJobBackend.Local =>
            "spec.backend is Local, which only `ferry run` executes on the machine it runs on. Use spec.backend: InCluster in a cluster.",
        _ => $"spec.backend is {backend}, which this operator does not run. Use spec.backend: InCluster.",
    };
}
