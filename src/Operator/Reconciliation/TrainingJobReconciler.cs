using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Runtime.Controllers;
using k8s;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Reconciles one TrainingJob in the order of STYLE.md: get (gone → done) → deletion? backend clean-up, remove the
/// finalizer, done → ensure the finalizer (only for backends that need one) → observe the backend's children → decide with the pure
/// <see cref="TrainingJobStatusCalculator"/> → carry out its actions → write the status once, only if it changed.
/// Runs against any <see cref="ITrainingJobStore"/> and any set of <see cref="ITrainingBackend"/>s, so the operator
/// (Kubernetes API, InCluster pods) and `ferry run` (memory, local processes) share it.
/// </summary>
public sealed class TrainingJobReconciler(
    ITrainingJobStore store,
    IEnumerable<ITrainingBackend> backends,
    ITrainingJobEventSink events,
    TimeProvider time,
    ILogger<TrainingJobReconciler>? logger = null) : IReconciler<TrainingJob>
{
    private readonly Dictionary<TrainingJobBackend, ITrainingBackend> _backends = backends.ToDictionary(b => b.Backend);
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;

    /// <inheritdoc />
    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var job = await store.GetAsync(ns, name, cancellationToken);
        if (job is null)
        {
            return ReconcileResult.Done;
        }

        var backend = _backends.GetValueOrDefault(job.Spec.Backend);
        if (job.Metadata.DeletionTimestamp is not null)
        {
            if (job.Metadata.Finalizers?.Contains(TrainingJobLabels.Finalizer) == true)
            {
                // The final commit of a finished clean-up must not be abandoned half-way by shutdown.
                if (backend is not null)
                {
                    await backend.CleanUpAsync(job, CancellationToken.None);
                }

                await store.RemoveFinalizerAsync(job, TrainingJobLabels.Finalizer, CancellationToken.None);
            }

            return ReconcileResult.Done;
        }

        if (backend?.NeedsFinalizer == true)
        {
            job = await store.AddFinalizerAsync(job, TrainingJobLabels.Finalizer, cancellationToken);
        }

        var invalid = backend is null ? MissingBackend(job.Spec.Backend) : backend.Validate(job);
        var replicas = backend is null || (invalid is not null && TrainingJobStatusCalculator.IsFinished(job.Status?.Phase))
            ? []
            : await backend.ObserveAsync(job, cancellationToken);
        var decision = TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, replicas, time.GetUtcNow(), invalid));

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
                    // Terminal: decide again with the refusal as the spec problem, which stops what was started.
                    _logger.LogWarning("TrainingJob {Namespace}/{Name} cannot run: {Reason}", ns, name, refused.Message);
                    replicas = await backend.ObserveAsync(job, cancellationToken);
                    decision = TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, replicas, time.GetUtcNow(), refused.Message));
                    if (decision.Delete.Count > 0)
                    {
                        await backend.DeleteAsync(job, decision.Delete, cancellationToken);
                    }
                }
            }
        }

        // Events (best effort, in order) go out while the status is written: neither waits for the other.
        var recorded = RecordAsync(job, decision.Events, cancellationToken);
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

        if (decision.DeleteJob)
        {
            _logger.LogInformation("Deleting TrainingJob {Namespace}/{Name}: spec.inCluster.ttlSecondsAfterFinished has passed", ns, name);
            await store.DeleteAsync(job, cancellationToken);
            return ReconcileResult.Done;
        }

        return decision.RequeueAfter is { } delay ? ReconcileResult.RequeueAfter(delay) : ReconcileResult.Done;
    }

    private async Task RecordAsync(TrainingJob job, IReadOnlyList<TrainingJobEvent> trainingEvents, CancellationToken cancellationToken)
    {
        foreach (var trainingEvent in trainingEvents)
        {
            await events.RecordAsync(job, trainingEvent, cancellationToken);
        }
    }

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
            "spec.backend is SageMaker, but this version of the operator has no SageMaker backend yet. " +
            "Use spec.backend: InCluster, or run the job with SageMaker's own tooling for now.",
        TrainingJobBackend.Local =>
            "spec.backend is Local, which only `ferry run` executes on the machine it runs on. Use spec.backend: InCluster in a cluster.",
        _ => $"spec.backend is {backend}, which this operator does not run. Use spec.backend: InCluster.",
    };
}
