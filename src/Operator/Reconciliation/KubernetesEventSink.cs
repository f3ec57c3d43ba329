using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Runtime.Resources;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Reconciliation;

/// <summary>Records transitions as core/v1 Events on the TrainingJob, so `kubectl describe tj` shows them.</summary>
public sealed class KubernetesEventSink(IResourceClient<Corev1Event> client, TimeProvider time, ILogger<KubernetesEventSink>? logger = null) : ITrainingJobEventSink
{
    /// <summary>The component named as the events' source.</summary>
    public const string Component = "ferry-operator";

    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;

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
        try
        {
            await client.CreateAsync(record, cancellationToken);
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException)
        {
            // Events are best effort: a lost event never fails a reconcile.
            _logger.LogWarning(e, "Could not record event {Reason} for {Namespace}/{Name}", trainingEvent.Reason, job.Metadata.NamespaceProperty, job.Metadata.Name);
        }
    }
}
