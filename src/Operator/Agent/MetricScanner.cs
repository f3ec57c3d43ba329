using System.Globalization;
using System.Text.RegularExpressions;

namespace Ferry.Operator.Agent;

/// <summary>A metric value seen in the training output.</summary>
public sealed record ObservedMetric(string Name, double Value, DateTimeOffset Timestamp);

/// <summary>Matches metric definitions against output lines; the last value of each metric wins (SageMaker's rule).</summary>
public sealed class MetricScanner
{
    private readonly (string Name, Regex Pattern)[] _definitions;
    private readonly Dictionary<string, ObservedMetric> _latest = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public MetricScanner(IEnumerable<AgentMetricDefinition> definitions)
    {
        _definitions = [.. definitions.Select(d => (d.Name, new Regex(d.Regex, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100))))];
    }

    /// <summary>Looks for every metric in <paramref name="line"/>.</summary>
    public void Observe(string line, DateTimeOffset now)
    {
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

            if (match.Success && match.Groups.Count > 1
                && double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                lock (_gate)
                {
                    _latest[name] = new ObservedMetric(name, value, now);
                }
            }
        }
    }

    /// <summary>The latest value of each metric seen so far, by name.</summary>
    public IReadOnlyList<ObservedMetric> Latest()
    {
        lock (_gate)
        {
            return [.. _latest.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];
        }
    }
}
