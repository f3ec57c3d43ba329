using System.Globalization;
using Ferry.Crds.V1Alpha1;
using k8s.Models;

namespace Ferry.Operator.Agent;

/// <summary>Maps a TrainingJob to the agent's and the contract's view of it (used by the InCluster and Local backends).</summary>
public static class AgentJobMapping
{
    /// <summary>The <see cref="AgentJob"/> for <paramref name="job"/>; metric definitions default to <see cref="MetricDefinition.Defaults"/>.</summary>
    public static AgentJob FromTrainingJob(TrainingJob job, int? defaultCpus = null)
    {
        var spec = job.Spec;
        IEnumerable<MetricDefinition> definitions = spec.MetricDefinitions is { Count: > 0 } defined ? defined : MetricDefinition.Defaults;
        return new AgentJob(
            JobName: job.Metadata.Name,
            Replicas: spec.Resources?.Replicas ?? 1,
            GpusPerReplica: spec.Resources?.GpusPerReplica ?? 0,
            CpusPerReplica: CpuCount(spec.Resources?.Cpu) ?? defaultCpus ?? 1,
            HyperParameters: new Dictionary<string, string>(spec.HyperParameters ?? new Dictionary<string, string>(), StringComparer.Ordinal),
            Inputs: [.. (spec.Inputs ?? []).Select(i => new AgentChannel(i.Name, i.Uri, i.Distribution.ToString()))],
            OutputUri: spec.Output?.Uri,
            CheckpointUri: spec.Checkpoint?.Uri,
            MetricDefinitions: [.. definitions.Select(d => new AgentMetricDefinition(d.Name, d.Regex))],
            Environment: new Dictionary<string, string>(spec.Env ?? new Dictionary<string, string>(), StringComparer.Ordinal),
            InstanceType: spec.Resources?.InstanceType,
            Report: new AgentReportContext(spec.Backend.ToString(), spec.Image, spec.Experiment?.Name, spec.Experiment?.Trial,
                spec.Rules is { Count: > 0 } rules ? [.. rules] : null));
    }

    /// <summary>Whole CPUs for `SM_NUM_CPUS` from a Kubernetes quantity (`500m` → 1, `2` → 2); null when unset.</summary>
    public static int? CpuCount(string? quantity)
    {
        if (string.IsNullOrWhiteSpace(quantity))
        {
            return null;
        }

        var cores = new ResourceQuantity(quantity).ToDecimal();
        return (int)Math.Max(1, Math.Ceiling(cores));
    }

    /// <summary>The command the training container runs: `spec.command` (default `train`) followed by `spec.args`.</summary>
    public static IReadOnlyList<string> TrainingCommand(TrainingJobSpec spec) =>
        [.. spec.Command is { Count: > 0 } command ? command : (IEnumerable<string>)[Contract.ContainerContract.DefaultCommand], .. spec.Args ?? []];

    /// <summary>Invariant text of an integer (for environment variables).</summary>
    internal static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
