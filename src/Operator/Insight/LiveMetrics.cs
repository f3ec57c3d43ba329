using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Ferry.Operator.Agent;

namespace Ferry.Operator.Insight;

/// <summary>One value of a metric that rank 0 printed, numbered in the order the agent read it.</summary>
/// <param name="Sequence">1, 2, 3, … per reporting replica: the operator's cursor into the report.</param>
/// <param name="Name">The metric definition's name.</param>
/// <param name="Value">The captured value (NaN and infinities kept: the NaN rule looks for them).</param>
/// <param name="Time">When the line was read.</param>
/// <param name="Step">The trainer's step on that line (or the last one it printed), when known.</param>
/// <param name="Epoch">The trainer's epoch likewise, when known.</param>
public sealed record LivePoint(
    [property: JsonPropertyName("seq")] long Sequence,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("step")] long? Step = null,
    [property: JsonPropertyName("epoch")] long? Epoch = null);

/// <summary>The trainer's own account of how far it is (`progress epoch=E/N step=S/T`).</summary>
public sealed record LiveProgress(
    [property: JsonPropertyName("epoch")] long Epoch,
    [property: JsonPropertyName("epochs")] long? Epochs,
    [property: JsonPropertyName("step")] long? Step,
    [property: JsonPropertyName("steps")] long? Steps,
    [property: JsonPropertyName("time")] DateTimeOffset Time);

/// <summary>
/// What rank 0 reported while it runs, already on the operator's clock: the values after the operator's cursor, and
/// the latest progress. <paramref name="Replica"/> names the reporter (the rank-0 pod's uid, or the Local process), so
/// the cursor restarts with a new reporter.
/// </summary>
public sealed record LiveReport(string Replica, IReadOnlyList<LivePoint> Points, LiveProgress? Progress);

/// <summary>
/// The body rank 0's agent serves (`GET /ferry/v1/metrics?after=N`): its identity (the job's and its own pod's uid),
/// its clock, the values after sequence number N and the latest progress.
/// </summary>
public sealed record LiveMetricsDocument(
    [property: JsonPropertyName("jobUid")] string JobUid,
    [property: JsonPropertyName("podUid")] string PodUid,
    [property: JsonPropertyName("now")] DateTimeOffset Now,
    [property: JsonPropertyName("points")] IReadOnlyList<LivePoint> Points,
    [property: JsonPropertyName("progress")] LiveProgress? Progress)
{
    /// <summary>The path the agent serves and the operator polls.</summary>
    public const string Path = "/ferry/v1/metrics";

    /// <summary>NaN and infinities travel as the strings "NaN", "Infinity", "-Infinity".</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string Serialize() => JsonSerializer.Serialize(this, Json);

    public static LiveMetricsDocument? Parse(string json) => JsonSerializer.Deserialize<LiveMetricsDocument>(json, Json);

    /// <summary>
    /// The report on the operator's clock: each time moved by the difference between the operator's <paramref name="now"/>
    /// and the agent's, so a node's clock skew never makes a metric look silent (Hang) or early.
    /// </summary>
    public LiveReport ToReport(DateTimeOffset now)
    {
        var shift = now - Now;
        return new LiveReport(PodUid,
            [.. Points.Select(p => p with { Time = p.Time + shift })],
            Progress is { } progress ? progress with { Time = progress.Time + shift } : null);
    }
}

/// <summary>
/// Applies the metric definitions to rank 0's output lines as they come (SageMaker's semantics: one capture group,
/// parsed as a float) and keeps every value numbered, with the step and epoch of the line, bounded per metric
/// (<see cref="MetricHistory.DefaultCapacity"/>). Reads the trainer's `progress epoch=E/N step=S/T` lines too. Shared
/// by the agent (which serves it) and the Local backend (which reads its processes' output itself). Thread-safe.
/// </summary>
public sealed partial class LiveMetricRecorder
{
    private readonly (string Name, Regex Pattern)[] _definitions;
    private readonly Dictionary<string, Queue<LivePoint>> _series = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private readonly Lock _gate = new();
    private long _sequence;
    private long? _step;
    private long? _epoch;
    private LiveProgress? _progress;

    public LiveMetricRecorder(IEnumerable<AgentMetricDefinition> definitions, int capacity = MetricHistory.DefaultCapacity)
    {
        _definitions = [.. definitions.Select(d => (d.Name, new Regex(d.Regex, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100))))];
        _capacity = capacity;
    }

    /// <summary>The sequence number of the last value recorded (0 before the first).</summary>
    public long Sequence
    {
        get
        {
            lock (_gate)
            {
                return _sequence;
            }
        }
    }

    /// <summary>Reads one output line; returns whether it carried a metric value or progress.</summary>
    public bool Observe(string line, DateTimeOffset now)
    {
        var step = Capture(StepPattern(), line);
        var epoch = Capture(EpochPattern(), line);
        var progress = ProgressPattern().Match(line);
        var values = new List<(string Name, double Value)>();
        foreach (var (name, pattern) in _definitions)
        {
            try
            {
                if (pattern.Match(line) is { Success: true, Groups.Count: > 1 } match
                    && double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    values.Add((name, value));
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // A pathological regex on a long line: that line does not count for that metric.
            }
        }

        lock (_gate)
        {
            _step = step ?? _step;
            _epoch = epoch ?? _epoch;
            if (progress.Success)
            {
                _progress = new LiveProgress(Long(progress.Groups[1].Value), Long(progress.Groups[2].Value),
                    progress.Groups[3].Success ? Long(progress.Groups[3].Value) : _step,
                    progress.Groups[4].Success ? Long(progress.Groups[4].Value) : null, now);
            }

            foreach (var (name, value) in values)
            {
                if (!_series.TryGetValue(name, out var series))
                {
                    _series[name] = series = new Queue<LivePoint>();
                }

                if (series.Count == _capacity)
                {
                    series.Dequeue();
                }

                series.Enqueue(new LivePoint(++_sequence, name, value, now, _step, _epoch));
            }
        }

        return values.Count > 0 || progress.Success;
    }

    /// <summary>The values recorded after sequence number <paramref name="after"/>, in order, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<LivePoint> After(long after, int limit = int.MaxValue)
    {
        lock (_gate)
        {
            return [.. _series.Values.SelectMany(s => s).Where(p => p.Sequence > after).OrderBy(p => p.Sequence).Take(limit)];
        }
    }

    /// <summary>Every value still held, by metric name, as the training report plots them.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Report.ReportPoint>> Snapshot()
    {
        lock (_gate)
        {
            return _series.ToDictionary(
                s => s.Key,
                s => (IReadOnlyList<Report.ReportPoint>)[.. s.Value.Select(p => new Report.ReportPoint(p.Value, p.Time, p.Step, p.Epoch is { } e ? (int)Math.Min(e, int.MaxValue) : null))],
                StringComparer.Ordinal);
        }
    }

    /// <summary>The latest progress line, or null.</summary>
    public LiveProgress? Progress
    {
        get
        {
            lock (_gate)
            {
                return _progress;
            }
        }
    }

    private static long? Capture(Regex pattern, string line) =>
        pattern.Match(line) is { Success: true } match && long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;

    private static long Long(string text) => long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"(?<![\w.])step=([0-9]{1,18})\b", RegexOptions.CultureInvariant)]
    private static partial Regex StepPattern();

    [GeneratedRegex(@"(?<![\w.])epoch=([0-9]{1,18})\b", RegexOptions.CultureInvariant)]
    private static partial Regex EpochPattern();

    [GeneratedRegex(@"\bprogress epoch=([0-9]{1,18})/([0-9]{1,18})(?: step=([0-9]{1,18})/([0-9]{1,18}))?", RegexOptions.CultureInvariant)]
    private static partial Regex ProgressPattern();
}
