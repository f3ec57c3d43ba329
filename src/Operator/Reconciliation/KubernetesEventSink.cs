using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Runtime.Resources;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Records transitions as core/v1 Events on the TrainingJob, so `kubectl describe tj` shows them. A repeat of a recent
/// Event (a retried reconcile deciding the same transition again) patches that Event's <c>count</c> and
/// <c>lastTimestamp</c> instead of creating another, as client-go's recorder does (<see cref="EventCorrelator"/>).
/// </summary>
public sealed class KubernetesEventSink(IResourceClient<Corev1Event> client, TimeProvider time, ILogger<KubernetesEventSink>? logger = null,
    EventCorrelator? correlator = null) : ITrainingJobEventSink
{
    /// <summary>The component named as the events' source.</summary>
    public const string Component = "ferry-operator";

    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly EventCorrelator _correlator = correlator ?? new EventCorrelator(time);

    /// <inheritdoc />
    public async Task RecordAsync(TrainingJob job, TrainingJobEvent trainingEvent, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var record = new Corev1Event
        {
            Metadata = new V1ObjectMeta
            {
                Name = $"{job.Metadata.Name}.{now.Ticks:x}{Random.Shared.Next(0x1000):x3}",
                NamespaceProperty = job.Metadata.NamespaceProperty,
            },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = TrainingJob.GroupVersion,
                Kind = TrainingJob.KubeKind,
                Name = job.Metadata.Name,
                NamespaceProperty = job.Metadata.NamespaceProperty,
                Uid = job.Metadata.Uid,
                ResourceVersion = job.Metadata.ResourceVersion,
            },
            Type = trainingEvent.Type,
            Reason = trainingEvent.Reason,
            Message = trainingEvent.Message,
            Source = new V1EventSource { Component = Component },
            ReportingComponent = "ferry.dev/operator",
            ReportingInstance = Environment.MachineName,
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        };
        var key = EventCorrelator.KeyOf(record);
        try
        {
            if (_correlator.ObserveRepeat(key) is { } repeat)
            {
                try
                {
                    _correlator.Remember(key, await client.PatchAsync(repeat.Namespace, repeat.Name, RepeatPatch(repeat), cancellationToken));
                    return;
                }
                catch (KubernetesApiException e) when (e.IsNotFound)
                {
                    // The Event expired (the API server keeps Events for an hour by default): record it afresh.
                }
            }

            _correlator.Remember(key, await client.CreateAsync(record, cancellationToken));
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException)
        {
            // Events are best effort: a lost event never fails a reconcile; the next occurrence starts a new Event.
            _correlator.Forget(key);
            _logger.LogWarning(e, "Could not record event {Reason} for {Namespace}/{Name}", trainingEvent.Reason, job.Metadata.NamespaceProperty, job.Metadata.Name);
        }
    }

    /// <summary>The merge patch that counts a repeat, as client-go's recorder sends it (count and lastTimestamp).</summary>
    private static V1Patch RepeatPatch(EventCorrelator.Observation repeat) => new(string.Create(CultureInfo.InvariantCulture,
        $"{{\"count\":{repeat.Count},\"lastTimestamp\":\"{repeat.LastTimestamp:yyyy-MM-dd'T'HH:mm:ss'Z'}\"}}"), V1Patch.PatchType.MergePatch);
}
