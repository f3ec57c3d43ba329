using CsCheck;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Insight;

namespace Ferry.Operator.Tests.Insight;

/// <summary>The training-health rules as pure functions: tables of histories, and properties no rule may break.</summary>
public sealed class TrainingRuleEvaluatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);

    // One value per 10 s, steps 100, 200, ...
    private static MetricHistory Series(string name, params double[] values) => Append(new MetricHistory(), name, values);

    private static MetricHistory Append(MetricHistory history, string name, double[] values, int offsetSeconds = 0)
    {
        for (var i = 0; i < values.Length; i++)
        {
            history.Add(name, new MetricPoint(values[i], T0.AddSeconds(offsetSeconds + (10 * i)), 100 * (i + 1)));
        }

        return history;
    }

    private static RuleClock Running(int secondsAfterT0 = 1000) => new(T0.AddSeconds(secondsAfterT0), T0);

    public static TheoryData<double[], int, double, bool> LossNotDecreasingTable => new()
    {
        { [1.0, 0.9, 0.8, 0.7], 3, 0, false },          // improving every update
        { [1.0, 0.9, 0.9, 0.9, 0.9], 3, 0, true },       // flat for three updates
        { [1.0, 0.9, 0.95, 0.92, 0.91], 3, 0, true },    // never back below the best 0.9
        { [1.0, 0.9, 0.95, 0.92, 0.85], 3, 0, false },   // improved on the third update
        { [1.0, 0.99, 0.98, 0.97], 3, 0.05, true },      // improving, but by less than the threshold
        { [1.0, 0.9, 0.95], 3, 0, false },               // not enough updates yet
        { [1.0, double.NaN, double.NaN, double.NaN], 3, 0, false }, // NaN is the NaN rule's business
        { [], 1, 0, false },
    };

    [Theory]
    [MemberData(nameof(LossNotDecreasingTable))]
    public void LossNotDecreasing_fires_after_patience_updates_without_improvement(double[] values, int patience, double threshold, bool fires)
    {
        var rule = new TrainingRule { Type = TrainingRuleType.LossNotDecreasing, Patience = patience, Threshold = threshold };
        var firing = TrainingRuleEvaluator.Evaluate(rule, Series("train_loss", values), Running());
        Assert.Equal(fires, firing is not null);
    }

    [Fact]
    public void A_fired_rule_names_itself_and_shows_the_values_and_steps()
    {
        var rule = new TrainingRule { Name = "plateau", Type = TrainingRuleType.LossNotDecreasing, Patience = 2, Action = RuleAction.Restart };
        var firing = TrainingRuleEvaluator.Evaluate(rule, Series("train_loss", 0.5, 0.4, 0.41, 0.42), Running());

        Assert.NotNull(firing);
        Assert.Equal("plateau", firing.RuleName);
        Assert.Equal(RuleAction.Restart, firing.Action);
        Assert.Equal("train_loss has not improved on its best 0.4 (step 200) by more than 0 for 2 updates: 0.41 (step 300), 0.42 (step 400)", firing.Evidence);
    }

    [Fact]
    public void A_rule_without_a_name_goes_by_its_type() =>
        Assert.Equal("NaN", TrainingRuleEvaluator.NameOf(new TrainingRule { Type = TrainingRuleType.NaN }));

    public static TheoryData<double[], bool> NaNTable => new()
    {
        { [0.5, 0.4, 0.3], false },
        { [0.5, double.NaN], true },
        { [0.5, double.PositiveInfinity, 0.3], true },
        { [double.NegativeInfinity], true },
        { [], false },
    };

    [Theory]
    [MemberData(nameof(NaNTable))]
    public void NaN_fires_when_the_metric_is_not_finite(double[] values, bool fires)
    {
        var firing = TrainingRuleEvaluator.Evaluate(new TrainingRule { Type = TrainingRuleType.NaN }, Series("train_loss", values), Running());
        Assert.Equal(fires, firing is not null);
    }

    [Fact]
    public void NaN_evidence_gives_the_last_finite_value() =>
        Assert.Equal(
            "train_loss became NaN (step 300); its last finite value was 0.4 (step 200)",
            TrainingRuleEvaluator.Evaluate(new TrainingRule { Type = TrainingRuleType.NaN }, Series("train_loss", 0.5, 0.4, double.NaN), Running())!.Evidence);

    public static TheoryData<double[], double[], int, double, bool> OverfitTable => new()
    {
        // train falls, validation rises at every evaluation: overfits after `patience` evaluations
        { [1.0, 0.8, 0.6, 0.4], [0.9, 0.95, 1.0, 1.1], 3, 0, true },
        { [1.0, 0.8, 0.6, 0.4], [0.9, 0.95, 1.0, 1.1], 4, 0, false },
        // both fall: learning
        { [1.0, 0.8, 0.6, 0.4], [0.9, 0.85, 0.8, 0.75], 1, 0, false },
        // validation rises but train rises too: not overfitting, just unstable
        { [0.4, 0.6, 0.8, 1.0], [0.9, 0.95, 1.0, 1.1], 1, 0, false },
        // the rise is smaller than the threshold
        { [1.0, 0.8, 0.6, 0.4], [0.9, 0.91, 0.92, 0.93], 2, 0.05, false },
        // a dip in validation breaks the streak
        { [1.0, 0.8, 0.6, 0.4, 0.3], [0.9, 0.95, 0.9, 1.0, 1.1], 3, 0, false },
    };

    [Theory]
    [MemberData(nameof(OverfitTable))]
    public void Overfit_fires_when_validation_worsens_while_training_improves(double[] train, double[] validation, int patience, double threshold, bool fires)
    {
        // Validation values are read 1 s after the training value of the same epoch.
        var history = Append(Series("train_loss", train), "val_loss", validation, offsetSeconds: 1);
        var rule = new TrainingRule { Type = TrainingRuleType.Overfit, Patience = patience, Threshold = threshold };
        Assert.Equal(fires, TrainingRuleEvaluator.Evaluate(rule, history, Running()) is not null);
    }

    public static TheoryData<double[], RuleComparison, double, string?> ThresholdTable => new()
    {
        { [0.7, 0.85, 0.91], RuleComparison.GreaterThan, 0.9, "val_accuracy reached 0.91 (step 300), above 0.9" },
        { [0.7, 0.85, 0.9], RuleComparison.GreaterThan, 0.9, null },
        { [0.7, 0.85, 0.6], RuleComparison.LessThan, 0.65, "val_accuracy reached 0.6 (step 300), below 0.65" },
        { [], RuleComparison.LessThan, 0.65, null },
    };

    [Theory]
    [MemberData(nameof(ThresholdTable))]
    public void MetricThreshold_fires_when_the_metric_crosses_the_value(double[] values, RuleComparison comparison, double limit, string? evidence)
    {
        var rule = new TrainingRule { Type = TrainingRuleType.MetricThreshold, Metric = "val_accuracy", Comparison = comparison, Value = limit };
        Assert.Equal(evidence, TrainingRuleEvaluator.Evaluate(rule, Series("val_accuracy", values), Running())?.Evidence);
    }

    [Theory]
    [InlineData(29, false)]   // last value at T0+20 s; 29 s later the 30 s limit is not reached
    [InlineData(50, true)]    // 30 s of silence
    public void Hang_fires_when_the_metric_goes_silent_while_the_replicas_run(int nowSecondsAfterT0, bool fires)
    {
        var rule = new TrainingRule { Type = TrainingRuleType.Hang, Seconds = 30 };
        var history = Series("train_loss", 0.9, 0.8, 0.7);
        Assert.Equal(fires, TrainingRuleEvaluator.Evaluate(rule, history, Running(nowSecondsAfterT0)) is not null);
    }

    [Fact]
    public void Hang_and_StartDeadline_wait_while_the_replicas_are_not_running()
    {
        var rules = new[]
        {
            new TrainingRule { Type = TrainingRuleType.Hang, Seconds = 30 },
            new TrainingRule { Type = TrainingRuleType.StartDeadline, Seconds = 30 },
        };
        var notRunning = new RuleClock(T0.AddHours(5), RunningSince: null);

        Assert.Null(TrainingRuleEvaluator.FirstFiring(rules, Series("train_loss", 0.9), notRunning));
        Assert.Null(TrainingRuleEvaluator.FirstFiring(rules, new MetricHistory(), notRunning));
        Assert.Null(TrainingRuleEvaluator.NextDeadline(rules, new MetricHistory(), notRunning));
    }

    [Fact]
    public void Values_of_an_earlier_attempt_neither_satisfy_StartDeadline_nor_count_as_a_hang()
    {
        var history = Series("train_loss", 0.9, 0.8);                      // T0 .. T0+10 s, the first attempt
        var secondAttempt = T0.AddMinutes(10);
        var start = new TrainingRule { Type = TrainingRuleType.StartDeadline, Seconds = 60 };
        var hang = new TrainingRule { Type = TrainingRuleType.Hang, Seconds = 30 };

        Assert.Null(TrainingRuleEvaluator.Evaluate(start, history, new RuleClock(secondAttempt.AddSeconds(59), secondAttempt)));
        Assert.Equal(
            "train_loss has had no value 60 s after the replicas started (limit 60 s)",
            TrainingRuleEvaluator.Evaluate(start, history, new RuleClock(secondAttempt.AddSeconds(60), secondAttempt))?.Evidence);
        Assert.Null(TrainingRuleEvaluator.Evaluate(hang, history, new RuleClock(secondAttempt.AddSeconds(600), secondAttempt)));
    }

    [Fact]
    public void The_next_deadline_is_the_earliest_time_a_clock_rule_could_fire()
    {
        var rules = new[]
        {
            new TrainingRule { Name = "silence", Type = TrainingRuleType.Hang, Seconds = 300 },
            new TrainingRule { Type = TrainingRuleType.StartDeadline, Metric = "val_loss", Seconds = 120 },
            new TrainingRule { Type = TrainingRuleType.NaN },
        };
        var history = Series("train_loss", 0.9, 0.8);                      // last value at T0+10 s

        Assert.Equal(T0.AddSeconds(120), TrainingRuleEvaluator.NextDeadline(rules, history, Running(30)));
        Assert.Equal(T0.AddSeconds(310), TrainingRuleEvaluator.NextDeadline(rules, history, Running(200)));
        Assert.Null(TrainingRuleEvaluator.NextDeadline(rules, history, Running(400)));
    }

    [Fact]
    public void The_first_firing_rule_in_spec_order_wins()
    {
        var rules = new[]
        {
            new TrainingRule { Name = "target", Type = TrainingRuleType.MetricThreshold, Comparison = RuleComparison.LessThan, Value = 0.1 },
            new TrainingRule { Name = "nan", Type = TrainingRuleType.NaN },
            new TrainingRule { Name = "flat", Type = TrainingRuleType.LossNotDecreasing, Patience = 1 },
        };
        Assert.Equal("nan", TrainingRuleEvaluator.FirstFiring(rules, Series("train_loss", 0.5, 0.6, double.NaN), Running())?.RuleName);
    }

    [Fact]
    public void The_history_keeps_the_newest_values_up_to_its_capacity()
    {
        var history = Series("train_loss", 5, 4, 3, 2, 1);
        var bounded = new MetricHistory(capacity: 3);
        foreach (var point in history.Of("train_loss"))
        {
            bounded.Add("train_loss", point);
        }

        Assert.Equal([3.0, 2.0, 1.0], bounded.Of("train_loss").Select(p => p.Value));
    }

    // Properties over random histories.

    private static readonly Gen<double[]> Decrements = Gen.Double[1e-6, 1.0].Array[0, 60];

    [Fact]
    public void A_strictly_decreasing_loss_never_triggers_LossNotDecreasing() =>
        Gen.Select(Decrements, Gen.Int[1, 10], Gen.Double[10, 1000]).Sample((steps, patience, start) =>
        {
            var values = steps.Select((_, i) => start - steps.Take(i + 1).Sum()).Prepend(start).ToArray();
            var rule = new TrainingRule { Type = TrainingRuleType.LossNotDecreasing, Patience = patience };
            return TrainingRuleEvaluator.Evaluate(rule, Series("train_loss", values), Running()) is null;
        });

    [Fact]
    public void A_loss_that_never_improves_triggers_LossNotDecreasing_exactly_at_patience() =>
        Gen.Select(Gen.Double[0, 1].Array[1, 40], Gen.Int[1, 10]).Sample((rises, patience) =>
        {
            var values = rises.Select((_, i) => 1.0 + rises.Take(i + 1).Sum()).Prepend(1.0).ToArray();
            var rule = new TrainingRule { Type = TrainingRuleType.LossNotDecreasing, Patience = patience };
            var fires = TrainingRuleEvaluator.Evaluate(rule, Series("train_loss", values), Running()) is not null;
            return fires == (values.Length - 1 >= patience);
        });

    [Fact]
    public void Finite_values_never_trigger_NaN_and_any_non_finite_value_does() =>
        Gen.Select(Gen.Double[-1e6, 1e6].Array[0, 30], Gen.Int[0, 30], Gen.Int[0, 2].Select(i => new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity }[i]))
            .Sample((values, at, bad) =>
            {
                var rule = new TrainingRule { Type = TrainingRuleType.NaN };
                var clean = TrainingRuleEvaluator.Evaluate(rule, Series("train_loss", values), Running()) is null;
                var spoiled = values.ToList();
                spoiled.Insert(Math.Min(at, spoiled.Count), bad);
                return clean && TrainingRuleEvaluator.Evaluate(rule, Series("train_loss", [.. spoiled]), Running()) is not null;
            });

    [Fact]
    public void Evaluation_is_pure_the_same_inputs_give_the_same_answer() =>
        Gen.Select(Gen.Double[0, 2].Array[0, 30], Gen.Double[0, 2].Array[0, 30], Gen.Int[1, 5]).Sample((train, validation, patience) =>
        {
            var history = Append(Series("train_loss", train), "val_loss", validation, offsetSeconds: 1);
            var rules = Enum.GetValues<TrainingRuleType>().Select(t => new TrainingRule
            {
                Type = t, Patience = patience, Seconds = 30, Value = 1, Comparison = RuleComparison.GreaterThan,
            }).ToList();
            return rules.All(r => TrainingRuleEvaluator.Evaluate(r, history, Running(100)) == TrainingRuleEvaluator.Evaluate(r, history, Running(100)));
        });
}
