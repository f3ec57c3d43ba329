using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Runtime.Resources;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Records transitions as core/v1 Events on the TrainingJob, so `kubectl describe tj` shows them. A repeat of a recent
/// Event (a retried reconcile deciding the same transition again) patches that Event's <c>series</c> (count and last
/// observed time) instead of creating another, as client-go's recorder does (<see cref="EventCorrelator"/>).
/// </summary>
public sealed class KubernetesEventSink(IResourceClient<Corev1Event> client, TimeProvider time, ILogger<KubernetesEventSink>? logger = null,
    EventCorrelator? correlator = null) : ITrainingJobEventSink
{
    /// <summary>The component named as the events' source.</summary>
    public const string Component = "ferry-operator";

    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly EventCorrelator _correlator = correlator ?? new EventCorrelator(time);

    /// <summary>The longest message an Event with an eventTime may carry (the API server's limit for the note).</summary>
    public const int MessageLimit = 1024;

    /// <summary>What an Event says the operator was doing (the API server requires an action on Events with an eventTime).</summary>
    public const string Action = "Reconcile";

    /// <inheritdoc />
    public async Task RecordAsync(TrainingJob job, TrainingJobEvent trainingEvent, CancellationToken cancellationToken)
    {
        // Events carry eventTime (a MicroTime) and a series for repeats, as client-go's events.k8s.io recorder writes
        // them, rather than firstTimestamp/lastTimestamp: those are whole seconds, so the transitions of one quick
        // reconcile would tie and `kubectl describe` (which sorts by them) could print them out of order.
        var now = Microseconds(time.GetUtcNow().UtcDateTime);
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
            Message = trainingEvent.Message.Length <= MessageLimit ? trainingEvent.Message : trainingEvent.Message[..(MessageLimit - 1)] + "\u2026",
            Source = new V1EventSource { Component = Component },
            ReportingComponent = "ferry.dev/operator",
            ReportingInstance = ReportingInstance,
            Action = Action,
            EventTime = now,
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

    /// <summary>The instance named on Events: the host, cut to the API server's 128-character limit.</summary>
    private static string ReportingInstance { get; } = Environment.MachineName.Length <= 128 ? Environment.MachineName : Environment.MachineName[..128];

    /// <summary>
    /// A time at the precision the API server keeps a MicroTime. The API server requires all six fractional digits,
    /// and the client library writes a whole second without them, so a whole second moves on by one microsecond.
    /// </summary>
    private static DateTime Microseconds(DateTime time)
    {
        time = time.AddTicks(-(time.Ticks % 10));
        return time.Ticks % TimeSpan.TicksPerSecond == 0 ? time.AddTicks(10) : time;
    }

    /// <summary>The merge patch that counts a repeat: the Event's series (count and last observed time).</summary>
    private static V1Patch RepeatPatch(EventCorrelator.Observation repeat) => new(string.Create(CultureInfo.InvariantCulture,
        $"{{\"series\":{{\"count\":{repeat.Count},\"lastObservedTime\":\"{Microseconds(repeat.LastTimestamp):yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'}\"}}}}"), V1Patch.PatchType.MergePatch);
}
