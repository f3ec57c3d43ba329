using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Insight;

/// <summary>A rule that fired: which, what it asks for, and the evidence (values and steps) in words.</summary>
public sealed record RuleFiring(string RuleName, TrainingRuleType Type, RuleAction Action, string Evidence);

/// <summary>What the rules look at besides the values: the clock and since when the replicas have been running.</summary>
/// <param name="Now">The time of the evaluation.</param>
/// <param name="RunningSince">When every replica of the current attempt was running, or null while they are not.</param>
public sealed record RuleClock(DateTimeOffset Now, DateTimeOffset? RunningSince);

/// <summary>
/// The training-health rules of <c>spec.rules</c> as pure functions of a job's metric history. Only values seen in
/// the current attempt count for the time-based rules (Hang, StartDeadline); the value rules look at the whole history
/// they are given.
/// </summary>
public static class TrainingRuleEvaluator
{
    /// <summary>The name a rule goes by in conditions and Events: its own, else its type.</summary>
    public static string NameOf(TrainingRule rule) => rule.Name ?? rule.Type.ToString();

    /// <summary>The first of <paramref name="rules"/> (in spec order) that fires, or null.</summary>
    public static RuleFiring? FirstFiring(IEnumerable<TrainingRule> rules, MetricHistory history, RuleClock clock) =>
        rules.Select(r => Evaluate(r, history, clock)).FirstOrDefault(f => f is not null);

    /// <summary>Whether <paramref name="rule"/> fires now, and why.</summary>
    public static RuleFiring? Evaluate(TrainingRule rule, MetricHistory history, RuleClock clock)
    {
        var evidence = rule.Type switch
        {
            TrainingRuleType.LossNotDecreasing => LossNotDecreasing(rule, history.Of(rule.Metric)),
            TrainingRuleType.NaN => NotFinite(rule, history.Of(rule.Metric)),
            TrainingRuleType.Overfit => Overfit(rule, history.Of(rule.Metric), history.Of(rule.ValidationMetric)),
            TrainingRuleType.MetricThreshold => Threshold(rule, history.Of(rule.Metric)),
            TrainingRuleType.Hang => Hang(rule, history.Of(rule.Metric), clock),
            TrainingRuleType.StartDeadline => StartDeadline(rule, history.Of(rule.Metric), clock),
            _ => null,
        };
        return evidence is null ? null : new RuleFiring(NameOf(rule), rule.Type, rule.Action, evidence);
    }

    /// <summary>
    /// The earliest time a time-based rule could fire if nothing else happens (the controller looks again then), or
    /// null when none waits on the clock.
    /// </summary>
    public static DateTimeOffset? NextDeadline(IEnumerable<TrainingRule> rules, MetricHistory history, RuleClock clock)
    {
        DateTimeOffset? next = null;
        foreach (var rule in rules)
        {
            if (clock.RunningSince is not { } since || rule.Seconds is not { } seconds)
            {
                continue;
            }

            var series = history.Of(rule.Metric);
            DateTimeOffset? due = rule.Type switch
            {
                TrainingRuleType.Hang when LastSince(series, since) is { } last => last.Time.AddSeconds(seconds),
                TrainingRuleType.StartDeadline when LastSince(series, since) is null => since.AddSeconds(seconds),
                _ => null,
            };
            if (due is { } d && d > clock.Now && (next is null || d < next))
            {
                next = d;
            }
        }

        return next;
    }

    // Keras' EarlyStopping: the best value so far must improve by more than the threshold; `patience` updates in a
    // row that do not improve it fire the rule. NaN values are the NaN rule's business and are skipped here.
    private static string? LossNotDecreasing(TrainingRule rule, IReadOnlyList<MetricPoint> series)
    {
        MetricPoint? best = null;
        var since = new List<MetricPoint>();
        foreach (var point in series.Where(p => double.IsFinite(p.Value)))
        {
            if (best is null || point.Value < best.Value - rule.Threshold)
            {
                best = point;
                since.Clear();
                continue;
            }

            since.Add(point);
            if (since.Count >= rule.Patience)
            {
                return $"{rule.Metric} has not improved on its best {best} by more than {MetricText.Format(rule.Threshold)} "
                    + $"for {since.Count} updates: {string.Join(", ", since.TakeLast(5))}";
            }
        }

        return null;
    }

    private static string? NotFinite(TrainingRule rule, IReadOnlyList<MetricPoint> series) =>
        series.FirstOrDefault(p => !double.IsFinite(p.Value)) is { } bad
            ? $"{rule.Metric} became {bad}" + (series.LastOrDefault(p => double.IsFinite(p.Value) && p.Time <= bad.Time) is { } before
                ? $"; its last finite value was {before}" : "")
            : null;

    // Every update of the validation metric is an evaluation: it overfits when the validation metric rose by more than
    // the threshold while the training metric (its latest value at that time) fell. `patience` evaluations in a row fire.
    private static string? Overfit(TrainingRule rule, IReadOnlyList<MetricPoint> train, IReadOnlyList<MetricPoint> validation)
    {
        var streak = 0;
        for (var i = 1; i < validation.Count; i++)
        {
            var (previous, current) = (validation[i - 1], validation[i]);
            var trainBefore = LastAtOrBefore(train, previous.Time);
            var trainNow = LastAtOrBefore(train, current.Time);
            var overfits = trainBefore is not null && trainNow is not null && !ReferenceEquals(trainBefore, trainNow)
                && trainNow.Value < trainBefore.Value && current.Value - previous.Value > rule.Threshold;
            streak = overfits ? streak + 1 : 0;
            if (streak >= rule.Patience)
            {
                var window = validation.Skip(i - streak).Take(streak + 1);
                return $"{rule.ValidationMetric} rose for {streak} evaluations in a row ({string.Join(" → ", window)}) "
                    + $"while {rule.Metric} fell to {trainNow}";
            }
        }

        return null;
    }

    private static string? Threshold(TrainingRule rule, IReadOnlyList<MetricPoint> series)
    {
        if (rule.Value is not { } limit || rule.Comparison is not { } comparison)
        {
            return null;
        }

        var crossed = series.FirstOrDefault(p => comparison == RuleComparison.GreaterThan ? p.Value > limit : p.Value < limit);
        return crossed is null
            ? null
            : $"{rule.Metric} reached {crossed}, {(comparison == RuleComparison.GreaterThan ? "above" : "below")} {MetricText.Format(limit)}";
    }

    private static string? Hang(TrainingRule rule, IReadOnlyList<MetricPoint> series, RuleClock clock)
    {
        if (clock.RunningSince is not { } since || rule.Seconds is not { } seconds || LastSince(series, since) is not { } last)
        {
            return null;
        }

        var silent = clock.Now - last.Time;
        return silent >= TimeSpan.FromSeconds(seconds)
            ? $"{rule.Metric} has not been updated for {(long)silent.TotalSeconds} s (limit {seconds} s) while the replicas run; its last value was {last} at {last.Time:HH:mm:ss}"
            : null;
    }

    private static string? StartDeadline(TrainingRule rule, IReadOnlyList<MetricPoint> series, RuleClock clock)
    {
        if (clock.RunningSince is not { } since || rule.Seconds is not { } seconds || LastSince(series, since) is not null)
        {
            return null;
        }

        var waited = clock.Now - since;
        return waited >= TimeSpan.FromSeconds(seconds)
            ? $"{rule.Metric} has had no value {(long)waited.TotalSeconds} s after the replicas started (limit {seconds} s)"
            : null;
    }

    private static MetricPoint? LastSince(IReadOnlyList<MetricPoint> series, DateTimeOffset since) =>
        series.Count > 0 && series[^1].Time >= since ? series[^1] : null;

    private static MetricPoint? LastAtOrBefore(IReadOnlyList<MetricPoint> series, DateTimeOffset time) =>
        series.LastOrDefault(p => p.Time <= time);
}
