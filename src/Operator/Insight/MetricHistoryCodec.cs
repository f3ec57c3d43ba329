using System.Globalization;
using System.Text;
using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Insight;

/// <summary>
/// `status.metricHistory` ↔ <see cref="MetricHistory"/>. Each metric is one string of `offset:value[@step]` entries
/// (offset in whole seconds after the series' `since`, value with seven significant digits): about 12 bytes a value
/// instead of about 90 as JSON objects, so the history stays a small part of the object.
/// </summary>
public static class MetricHistoryCodec
{
    /// <summary>Values kept per metric in status unless a rule's patience needs more.</summary>
    public const int DefaultKept = 100;

    /// <summary>
    /// How many values of <paramref name="metric"/> the status keeps: <see cref="DefaultKept"/>, or one more than the
    /// largest patience of a rule that reads it, so LossNotDecreasing and Overfit always see enough.
    /// </summary>
    public static int KeptFor(string metric, IEnumerable<TrainingRule>? rules) =>
        Math.Max(DefaultKept, (rules ?? [])
            .Where(r => r.Metric == metric || (r.Type == TrainingRuleType.Overfit && r.ValidationMetric == metric))
            .Select(r => r.Patience + 1)
            .DefaultIfEmpty(0)
            .Max());

    /// <summary>The history the status holds.</summary>
    public static MetricHistory Decode(IEnumerable<MetricSeries>? series)
    {
        var history = new MetricHistory();
        foreach (var s in series ?? [])
        {
            foreach (var point in Points(s))
            {
                history.Add(s.Name, point);
            }
        }

        return history;
    }

    /// <summary>The values of one series, oldest first; a malformed entry is skipped.</summary>
    public static IEnumerable<MetricPoint> Points(MetricSeries series)
    {
        var since = new DateTimeOffset(DateTime.SpecifyKind(series.Since, DateTimeKind.Utc));
        foreach (var entry in series.Points.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var at = entry.IndexOf('@', colon);
            var valueText = at < 0 ? entry[(colon + 1)..] : entry[(colon + 1)..at];
            if (!long.TryParse(entry.AsSpan(0, colon), NumberStyles.Integer, CultureInfo.InvariantCulture, out var offset)
                || ParseValue(valueText) is not { } value)
            {
                continue;
            }

            long? step = at >= 0 && long.TryParse(entry.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;
            yield return new MetricPoint(value, since.AddSeconds(offset), step);
        }
    }

    /// <summary>The history as status keeps it: metrics by name, each bounded by <paramref name="keep"/>.</summary>
    public static List<MetricSeries> Encode(MetricHistory history, Func<string, int> keep) =>
        [.. history.Names.Order(StringComparer.Ordinal).Select(name => Encode(name, history.Of(name).TakeLast(keep(name)).ToList())).OfType<MetricSeries>()];

    /// <summary>One metric's values as a series, or null when there are none.</summary>
    public static MetricSeries? Encode(string name, IReadOnlyList<MetricPoint> points)
    {
        if (points.Count == 0)
        {
            return null;
        }

        var since = Truncate(points[0].Time);
        var text = new StringBuilder(points.Count * 12);
        foreach (var point in points)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            var offset = (long)Math.Max(0, Math.Floor((point.Time - since).TotalSeconds));
            text.Append(offset.ToString(CultureInfo.InvariantCulture)).Append(':').Append(FormatValue(point.Value));
            if (point.Step is { } step)
            {
                text.Append('@').Append(step.ToString(CultureInfo.InvariantCulture));
            }
        }

        return new MetricSeries { Name = name, Since = since.UtcDateTime, Points = text.ToString() };
    }

    /// <summary>Seven significant digits (a float's precision), invariant; NaN and infinities spelled out.</summary>
    public static string FormatValue(double value) => value switch
    {
        double.NaN => "NaN",
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ => value.ToString("G7", CultureInfo.InvariantCulture),
    };

    private static double? ParseValue(string text) => text switch
    {
        "NaN" => double.NaN,
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null,
    };

    private static DateTimeOffset Truncate(DateTimeOffset time) =>
        new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
}
