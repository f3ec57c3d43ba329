using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Insight.Lineage;

/// <summary>
/// Computes <c>status.lineage</c> and <c>status.artifacts.report</c> from the spec and what the replicas reported: a
/// pure function of its inputs, called once per reconcile with the status being computed. What a replica reported
/// once (inputs, the model's digest) stays in the status after its pod is gone.
/// </summary>
public static class LineageRecorder
{
    /// <summary>Updates <paramref name="status"/>'s lineage from <paramref name="spec"/> and the replicas of <paramref name="attempt"/>.</summary>
    public static void Record(TrainingJobSpec spec, TrainingJobStatus status, IEnumerable<ReplicaObservation> replicas, int attempt)
    {
        var current = replicas.Where(r => r.Attempt == attempt).OrderBy(r => r.Index).ToList();
        var previous = status.Lineage;
        var rank0 = current.FirstOrDefault(r => r.Index == 0);
        var inputs = rank0?.Inputs is { } listed
            ? [.. listed.Select(i => new LineageInput
            {
                Name = i.Name,
                Uri = spec.Inputs?.FirstOrDefault(s => s.Name == i.Name)?.Uri,
                Objects = i.Objects,
                Bytes = i.Bytes,
            })]
            : previous?.Inputs;
        var model = rank0 is { ModelDigest: { } digest, ModelUri: { } modelUri }
            ? new LineageArtifact { Uri = modelUri, Size = digest.Size, Sha256 = digest.Sha256 }
            : previous?.Model;

        status.Lineage = new LineageStatus
        {
            Backend = spec.Backend,
            Image = spec.Image,
            ImageDigest = current.Select(r => r.ImageDigest).FirstOrDefault(d => d is not null) ?? previous?.ImageDigest,
            HyperParameters = spec.HyperParameters is { Count: > 0 } hp
                ? hp.ToDictionary(p => p.Key, p => CredentialMask.HyperParameter(p.Key, p.Value), StringComparer.Ordinal)
                : null,
            Inputs = inputs,
            Model = model,
            Attempts = attempt > 0 ? attempt : null,
            StartTime = status.StartTime,
            CompletionTime = status.CompletionTime,
        };

        if (current.Select(r => r.ReportUri).FirstOrDefault(u => u is not null) is { } report)
        {
            status.Artifacts ??= new ArtifactsStatus();
            status.Artifacts.Report = report;
        }
    }

    /// <summary>
    /// The labels <c>ferry.dev/experiment</c> and <c>ferry.dev/trial</c> the job must carry for its spec.experiment,
    /// with null for a label to remove (none when the job names no experiment: labels set by hand are left alone). A
    /// name longer than a label value may be (63 characters) gets no label.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> Labels(TrainingJob job)
    {
        if (job.Spec.Experiment is not { } experiment)
        {
            return new Dictionary<string, string?>();
        }

        var wanted = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            [TrainingJobLabels.Experiment] = LabelValue(experiment.Name),
            [TrainingJobLabels.Trial] = LabelValue(experiment.Trial),
        };
        var labels = job.Metadata.Labels ?? new Dictionary<string, string>();
        return wanted
            .Where(w => w.Value is null ? labels.ContainsKey(w.Key) : !labels.TryGetValue(w.Key, out var v) || v != w.Value)
            .ToDictionary(w => w.Key, w => w.Value, StringComparer.Ordinal);
    }

    /// <summary>Longest label value Kubernetes accepts.</summary>
    public const int MaxLabelValue = 63;

    private static string? LabelValue(string? name) => name is { Length: > 0 and <= MaxLabelValue } ? name : null;
}
