using System.Globalization;
using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Insight;

namespace Ferry.Operator.Cli.Insight;

/// <summary>
/// The trials of an experiment side by side, as SageMaker Experiments' trial table shows them: one row per
/// TrainingJob (trial, phase, attempts, duration), then the final value of every metric any trial reported, then every
/// hyperparameter any trial set (`hp.NAME`); a blank cell where a trial has no such value.
/// </summary>
public static class ExperimentTable
{
    /// <summary>The table as aligned text, one line per trial, sorted by trial then job name.</summary>
    public static string Render(string experiment, IEnumerable<TrainingJob> jobs)
    {
        var trials = jobs
            .OrderBy(j => j.Spec.Experiment?.Trial ?? "", StringComparer.Ordinal)
            .ThenBy(j => j.Metadata.Name, StringComparer.Ordinal)
            .ToList();
        if (trials.Count == 0)
        {
            return $"No TrainingJobs of experiment {experiment} (label {TrainingJobLabels.Experiment}={experiment}).\n";
        }

        var metrics = trials.SelectMany(j => j.Status?.Metrics ?? []).Select(m => m.Name).Distinct().Order(StringComparer.Ordinal).ToList();
        var parameters = trials.SelectMany(j => j.Spec.HyperParameters?.Keys ?? []).Distinct().Order(StringComparer.Ordinal).ToList();
        var header = new List<string> { "TRIAL", "TRAININGJOB", "PHASE", "ATTEMPTS", "DURATION" };
        header.AddRange(metrics);
        header.AddRange(parameters.Select(p => "hp." + p));
        var rows = new List<IReadOnlyList<string>> { header };
        foreach (var job in trials)
        {
            var status = job.Status;
            var row = new List<string>
            {
                job.Spec.Experiment?.Trial ?? "-",
                job.Metadata.Name,
                status?.Phase?.ToString() ?? "Pending",
                (status?.Lineage?.Attempts ?? status?.Attempt ?? 0).ToString(CultureInfo.InvariantCulture),
                status?.Duration ?? "-",
            };
            row.AddRange(metrics.Select(name => status?.Metrics?.FirstOrDefault(m => m.Name == name) is { } value ? MetricText.Format(value.Value) : ""));
            row.AddRange(parameters.Select(name => (job.Spec.HyperParameters is { } hp && hp.TryGetValue(name, out var v) ? v : "")));
            rows.Add(row);
        }

        var widths = Enumerable.Range(0, header.Count).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"EXPERIMENT {experiment}: {trials.Count} trial(s)\n");
        foreach (var row in rows)
        {
            text.Append(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd()).Append('\n');
        }

        return text.ToString();
    }
}
