using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;

namespace Ferry.Operator.Insight.Report;

/// <summary>One value of a metric as the report keeps it: the value, when it was read, and the step and epoch of its line.</summary>
public sealed record ReportPoint(double Value, DateTimeOffset Time, long? Step = null, int? Epoch = null);

/// <summary>What the rank-0 agent knows about the job when its training process ends, for the report.</summary>
/// <param name="JobName">The TrainingJob's name.</param>
/// <param name="Attempt">The attempt this report describes.</param>
/// <param name="Replicas">Replicas of the job.</param>
/// <param name="Context">Backend, image, experiment and rules (from the operator).</param>
/// <param name="HyperParameters">spec.hyperParameters.</param>
/// <param name="Inputs">The input channels as `agent init` listed them, or null.</param>
/// <param name="Model">The uploaded model's URI and digest, or null (not uploaded).</param>
/// <param name="Series">Every metric value read from rank 0's output, by metric.</param>
/// <param name="TrainingStarted">When the training process started.</param>
/// <param name="TrainingEnded">When it ended.</param>
/// <param name="Outcome">How it ended, in words (e.g. "Succeeded", "Failed: exit code 1").</param>
public sealed record TrainingReport(
    string JobName,
    int Attempt,
    int Replicas,
    AgentReportContext Context,
    IReadOnlyDictionary<string, string> HyperParameters,
    IReadOnlyList<InputReport>? Inputs,
    (string Uri, ModelDigest Digest)? Model,
    IReadOnlyDictionary<string, IReadOnlyList<ReportPoint>> Series,
    DateTimeOffset TrainingStarted,
    DateTimeOffset TrainingEnded,
    string Outcome)
{
    /// <summary>Metrics that are positions, not measurements: never plotted.</summary>
    private static readonly HashSet<string> Positions = new(StringComparer.OrdinalIgnoreCase) { "epoch", "step" };

    /// <summary>The history the rules are evaluated over (step = the line's step, else its epoch).</summary>
    public MetricHistory History()
    {
        var history = new MetricHistory();
        foreach (var (name, points) in Series)
        {
            foreach (var point in points)
            {
                history.Add(name, new MetricPoint(point.Value, point.Time, point.Step ?? point.Epoch));
            }
        }

        return history;
    }

    /// <summary>Each rule of the job with whether it fires over the whole run (evaluated when the training process ended).</summary>
    public IReadOnlyList<(TrainingRule Rule, RuleFiring? Firing)> Rules()
    {
        var history = History();
        var clock = new RuleClock(TrainingEnded, TrainingStarted);
        return [.. (Context.Rules ?? []).Select(r => (r, TrainingRuleEvaluator.Evaluate(r, history, clock)))];
    }

    /// <summary>
    /// A metric's curve per epoch: the last value printed in each epoch, by epoch; for output without epochs, every
    /// value by its step (or its position). X is the epoch (or step), Y the value; non-finite values are left out.
    /// </summary>
    public (string XLabel, double[] X, double[] Y) Curve(string metric)
    {
        var points = Series.GetValueOrDefault(metric) ?? [];
        var finite = points.Where(p => double.IsFinite(p.Value)).ToList();
        if (finite.Count > 0 && finite.All(p => p.Epoch is not null))
        {
            var perEpoch = finite.GroupBy(p => p.Epoch!.Value).OrderBy(g => g.Key).Select(g => (X: (double)g.Key, Y: g.Last().Value)).ToList();
            return ("epoch", [.. perEpoch.Select(p => p.X)], [.. perEpoch.Select(p => p.Y)]);
        }

        if (finite.Count > 0 && finite.All(p => p.Step is not null))
        {
            return ("step", [.. finite.Select(p => (double)p.Step!.Value)], [.. finite.Select(p => p.Value)]);
        }

        return ("update", [.. finite.Select((_, i) => (double)(i + 1))], [.. finite.Select(p => p.Value)]);
    }

    /// <summary>The plotted metrics grouped into charts: losses, accuracies, then the rest; positions (epoch, step) are not plotted.</summary>
    public IReadOnlyList<(string Title, IReadOnlyList<string> Metrics)> Charts()
    {
        var plotted = Series.Keys.Where(k => !Positions.Contains(k) && Curve(k).X.Length > 0).Order(StringComparer.Ordinal).ToList();
        var losses = plotted.Where(m => m.Contains("loss", StringComparison.OrdinalIgnoreCase)).ToList();
        var accuracies = plotted.Where(m => !losses.Contains(m) && m.Contains("acc", StringComparison.OrdinalIgnoreCase)).ToList();
        var others = plotted.Except(losses).Except(accuracies).ToList();
        var charts = new List<(string, IReadOnlyList<string>)>();
        if (losses.Count > 0)
        {
            charts.Add(("Loss", losses));
        }

        if (accuracies.Count > 0)
        {
            charts.Add(("Accuracy", accuracies));
        }

        charts.AddRange(others.Select(m => (m, (IReadOnlyList<string>)[m])));
        return charts;
    }
}
