using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Reconciliation;
using Spectre.Console;

namespace Ferry.Operator.Cli.Run;

/// <summary>A rank's position from the trainer's <c>progress epoch=2/3 step=900/2812</c> lines.</summary>
public sealed record RankProgress(int Epoch, int Epochs, long Step, long Steps)
{
    /// <summary>Parses a progress line, or null when the line is something else.</summary>
    public static RankProgress? Parse(string line)
    {
        var match = ProgressLine.Pattern().Match(line);
        if (!match.Success)
        {
            return null;
        }

        int Int(string group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
        long Long(string group) => long.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
        return new RankProgress(Int("epoch"), Int("epochs"), Long("step"), Long("steps"));
    }

    /// <summary>Fraction done, 0..1.</summary>
    public double Fraction => Steps <= 0 ? 0 : Math.Clamp((double)Step / Steps, 0, 1);
}

internal static partial class ProgressLine
{
    [GeneratedRegex(@"^progress epoch=(?<epoch>\d+)/(?<epochs>\d+) step=(?<step>\d+)/(?<steps>\d+)\s*$")]
    public static partial Regex Pattern();
}

/// <summary>
/// What <c>ferry run</c> shows while the job runs: per-rank progress and the latest metrics (from the same metric
/// definitions the agent uses), phase changes and events, and with <c>--verbose</c> rank 0's log.
/// </summary>
internal abstract class RunProgress(IReadOnlyList<AgentMetricDefinition> definitions, bool verbose)
{
    private readonly Dictionary<int, MetricScanner> _metrics = [];
    private readonly Lock _gate = new();

    protected bool Verbose => verbose;

    /// <summary>A line a replica printed.</summary>
    public void Line(LocalLogLine line)
    {
        var progress = line.IsError ? null : RankProgress.Parse(line.Text);
        IReadOnlyList<ObservedMetric> metrics;
        lock (_gate)
        {
            if (!_metrics.TryGetValue(line.Rank, out var scanner))
            {
                scanner = new MetricScanner(definitions);
                _metrics[line.Rank] = scanner;
            }

            if (progress is null)
            {
                scanner.Observe(line.Text, DateTimeOffset.UtcNow);
            }

            metrics = scanner.Latest();
        }

        if (verbose && line.Rank == 0 && progress is null)
        {
            Log(line);
        }

        if (progress is not null)
        {
            Progress(line.Rank, line.Attempt, progress, metrics);
        }
    }

    /// <summary>The job's status changed.</summary>
    public abstract void Status(TrainingJob job);

    /// <summary>A decision recorded an event.</summary>
    public abstract void Event(TrainingJobEvent recorded);

    /// <summary>A rank reported progress.</summary>
    protected abstract void Progress(int rank, int attempt, RankProgress progress, IReadOnlyList<ObservedMetric> metrics);

    /// <summary>A line of rank 0's log (only with --verbose).</summary>
    protected abstract void Log(LocalLogLine line);

    /// <summary>`train_loss=0.4123 val_accuracy=0.8512`.</summary>
    protected static string MetricsText(IReadOnlyList<ObservedMetric> metrics) =>
        string.Join(" ", metrics.Where(m => m.Name != "epoch").Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Name}={m.Value:0.####}")));
}

/// <summary>Line-by-line output for logs and CI (stdout is not a terminal).</summary>
internal sealed class PlainRunProgress(TextWriter output, IReadOnlyList<AgentMetricDefinition> definitions, bool verbose)
    : RunProgress(definitions, verbose)
{
    private TrainingJobPhase? _phase;

    public override void Status(TrainingJob job)
    {
        lock (output)
        {
            if (job.Status?.Phase is { } phase && phase != _phase)
            {
                _phase = phase;
                output.WriteLine($"phase: {phase} (attempt {job.Status.Attempt ?? 1})");
            }
        }
    }

    public override void Event(TrainingJobEvent recorded)
    {
        lock (output)
        {
            output.WriteLine($"event: {recorded.Type} {recorded.Reason}: {recorded.Message}");
        }
    }

    protected override void Progress(int rank, int attempt, RankProgress progress, IReadOnlyList<ObservedMetric> metrics)
    {
        lock (output)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"rank {rank}: epoch {progress.Epoch}/{progress.Epochs} step {progress.Step}/{progress.Steps} ({progress.Fraction:P0}) {MetricsText(metrics)}").TrimEnd());
        }
    }

    protected override void Log(LocalLogLine line)
    {
        lock (output)
        {
            output.WriteLine($"[rank 0] {line.Text}");
        }
    }
}

/// <summary>Live progress bars on a terminal (Spectre.Console): one per rank, with its epoch and latest metrics.</summary>
internal sealed class LiveRunProgress(IAnsiConsole console, ProgressContext context, IReadOnlyList<AgentMetricDefinition> definitions, bool verbose)
    : RunProgress(definitions, verbose)
{
    private readonly Dictionary<int, ProgressTask> _bars = [];
    private TrainingJobPhase? _phase;

    public override void Status(TrainingJob job)
    {
        if (job.Status?.Phase is { } phase && phase != _phase)
        {
            _phase = phase;
            console.MarkupLine($"[grey]phase:[/] [bold]{phase}[/] [grey](attempt {job.Status.Attempt ?? 1})[/]");
        }
    }

    public override void Event(TrainingJobEvent recorded)
    {
        var colour = recorded.Type == TrainingJobEvent.Warning ? "yellow" : "grey";
        console.MarkupLine($"[{colour}]{Markup.Escape(recorded.Reason)}:[/] {Markup.Escape(recorded.Message)}");
    }

    protected override void Progress(int rank, int attempt, RankProgress progress, IReadOnlyList<ObservedMetric> metrics)
    {
        lock (_bars)
        {
            if (!_bars.TryGetValue(rank, out var bar))
            {
                bar = context.AddTask($"rank {rank}", maxValue: 1000);
                _bars[rank] = bar;
            }

            bar.Value = progress.Fraction * 1000;
            var text = MetricsText(metrics);
            bar.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"rank {rank} · attempt {attempt} · epoch {progress.Epoch}/{progress.Epochs} · step {progress.Step}/{progress.Steps}{(text.Length > 0 ? " · " + text : "")}"));
        }
    }

    protected override void Log(LocalLogLine line) => console.MarkupLine($"[grey][[rank 0]][/] {Markup.Escape(line.Text)}");
}
