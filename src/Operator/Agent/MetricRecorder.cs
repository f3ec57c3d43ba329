using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Operator.Insight;
using Ferry.Operator.Insight.Report;

namespace Ferry.Operator.Agent;

/// <summary>
/// Every value of every metric definition in the order the training output printed it, with the step and epoch of
/// its line (`step=N`, `epoch=N`, as the trainer and most scripts print them): what the training report plots and
/// evaluates the rules over. Bounded per metric like <see cref="MetricHistory"/>.
/// </summary>
public sealed partial class MetricRecorder
{
    private readonly (string Name, Regex Pattern)[] _definitions;
    private readonly Dictionary<string, List<ReportPoint>> _series = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly int _capacity;

    public MetricRecorder(IEnumerable<AgentMetricDefinition> definitions, int capacity = MetricHistory.DefaultCapacity)
    {
        _definitions = [.. definitions.Select(d => (d.Name, new Regex(d.Regex, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100))))];
        _capacity = capacity;
    }

    /// <summary>Records the values <paramref name="line"/> carries.</summary>
    public void Observe(string line, DateTimeOffset now)
    {
        long? step = null;
        int? epoch = null;
        var parsedPosition = false;
        foreach (var (name, pattern) in _definitions)
        {
            Match match;
            try
            {
                match = pattern.Match(line);
            }
            catch (RegexMatchTimeoutException)
            {
                continue;
            }

            if (!match.Success || match.Groups.Count < 2
                || !double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            if (!parsedPosition)
            {
                step = StepPattern().Match(line) is { Success: true } s && long.TryParse(s.Groups[1].Value, CultureInfo.InvariantCulture, out var st) ? st : null;
                epoch = EpochPattern().Match(line) is { Success: true } e && int.TryParse(e.Groups[1].Value, CultureInfo.InvariantCulture, out var ep) ? ep : null;
                parsedPosition = true;
            }

            lock (_gate)
            {
                if (!_series.TryGetValue(name, out var series))
                {
                    _series[name] = series = [];
                }

                if (series.Count == _capacity)
                {
                    series.RemoveAt(0);
                }

                series.Add(new ReportPoint(value, now, step, epoch));
            }
        }
    }

    /// <summary>A copy of what was recorded, by metric name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<ReportPoint>> Snapshot()
    {
        lock (_gate)
        {
            return _series.ToDictionary(s => s.Key, s => (IReadOnlyList<ReportPoint>)[.. s.Value], StringComparer.Ordinal);
        }
    }

    [GeneratedRegex(@"\bstep[=: ]\s*([0-9]+)", RegexOptions.CultureInvariant)]
    private static partial Regex StepPattern();

    [GeneratedRegex(@"\bepoch[=: ]\s*([0-9]+)", RegexOptions.CultureInvariant)]
    private static partial Regex EpochPattern();
}
