namespace Ferry.Operator.Insight;

/// <summary>One value of a metric as the training output printed it.</summary>
/// <param name="Value">The captured value (NaN and infinities are kept: the NaN rule looks for them).</param>
/// <param name="Time">When the line was read.</param>
/// <param name="Step">The trainer's step (or epoch) on that line, when it printed one.</param>
public sealed record MetricPoint(double Value, DateTimeOffset Time, long? Step = null)
{
    /// <summary>The point as evidence in a message: its value and, when known, its step.</summary>
    public override string ToString() =>
        Step is { } step ? $"{MetricText.Format(Value)} (step {step})" : MetricText.Format(Value);
}

/// <summary>
/// The values each metric took, oldest first, bounded per metric (the oldest values go first). What the rules
/// read; a pure value, so the rules are pure functions of it.
/// </summary>
public sealed class MetricHistory
{
    /// <summary>Values kept per metric by default: enough for any patience the API allows (≤ 1,000).</summary>
    public const int DefaultCapacity = 2048;

    private readonly Dictionary<string, List<MetricPoint>> _series = new(StringComparer.Ordinal);
    private readonly int _capacity;

    public MetricHistory(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        _capacity = capacity;
    }

    /// <summary>The metrics that have at least one value.</summary>
    public IEnumerable<string> Names => _series.Keys;

    /// <summary>Appends a value of <paramref name="name"/>.</summary>
    public MetricHistory Add(string name, MetricPoint point)
    {
        if (!_series.TryGetValue(name, out var series))
        {
            _series[name] = series = [];
        }

        if (series.Count == _capacity)
        {
            series.RemoveAt(0);
        }

        series.Add(point);
        return this;
    }

    /// <summary>The values of <paramref name="name"/>, oldest first (empty when it never appeared).</summary>
    public IReadOnlyList<MetricPoint> Of(string name) =>
        _series.TryGetValue(name, out var series) ? series : [];
}

/// <summary>Metric values as people read them in messages.</summary>
public static class MetricText
{
    /// <summary>Up to six significant digits, invariant culture; NaN and infinities spelled out.</summary>
    public static string Format(double value) => value switch
    {
        double.NaN => "NaN",
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ => value.ToString("G6", System.Globalization.CultureInfo.InvariantCulture),
    };
}
