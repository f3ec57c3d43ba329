using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Insight;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Reconciliation.Policies;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Insight;

/// <summary>Live metrics and training rules in the pure status function: history, cursor, progress and the rules' actions.</summary>
public sealed class LiveMetricsPolicyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Rank0 = "pod-uid-0";

    private static TrainingJobDecision Decide(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, TimeSpan at) =>
        TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, replicas, T0 + at));

    /// <summary>A job with two running replicas of attempt 1, as recorded after its replicas started.</summary>
    private static TrainingJobBuilder RunningJob(params TrainingRule[] rules)
    {
        var job = Job().WithReplicas(2).With(j => j.Spec.Rules = rules.Length == 0 ? null : [.. rules]);
        var created = Decide(job, [], TimeSpan.Zero);
        var running = Decide(job.WithStatus(created.Status), Replicas(null), TimeSpan.FromSeconds(5));
        Assert.Equal(TrainingJobPhase.Running, running.Status.Phase);
        return job.WithStatus(running.Status);
    }

    private static IReadOnlyList<ReplicaObservation> Replicas(LiveReport? live) =>
        [.. Pods().Running(2).Build().Select(r => r.Index == 0 && live is not null ? r with { Live = live, StartedAt = T0.UtcDateTime } : r with { StartedAt = T0.UtcDateTime })];

    private static LiveReport Report(long firstSequence, params (string Name, double Value, int Second, long Step)[] points) =>
        new(Rank0, [.. points.Select((p, i) => new LivePoint(firstSequence + i, p.Name, p.Value, T0.AddSeconds(p.Second), p.Step, 1))], null);

    private static TrainingRule Rule(TrainingRuleType type, RuleAction action, string? name = null) =>
        new() { Type = type, Action = action, Name = name, Patience = 3 };

    [Fact]
    public void A_report_joins_the_history_once_and_the_same_report_again_changes_nothing()
    {
        var job = RunningJob();
        var report = Report(1, ("train_loss", 2.5, 10, 100), ("val_accuracy", 0.5, 10, 100), ("train_loss", 2.0, 20, 200));

        var first = Decide(job, Replicas(report), TimeSpan.FromSeconds(30));
        var again = Decide(job.WithStatus(first.Status), Replicas(report), TimeSpan.FromSeconds(40));

        var loss = Assert.Single(first.Status.Metrics!, m => m.Name == "train_loss");
        Assert.Equal(2.0, loss.Value);
        Assert.Equal(200, loss.Step);
        Assert.Equal(1, loss.Epoch);
        Assert.Equal(new MetricSourceStatus { Replica = Rank0, Sequence = 3 }.Sequence, first.Status.MetricSource!.Sequence);
        var history = MetricHistoryCodec.Decode(first.Status.MetricHistory);
        Assert.Equal([2.5, 2.0], history.Of("train_loss").Select(p => p.Value));
        Assert.Equal([100L, 200L], history.Of("train_loss").Select(p => p.Step!.Value));
        Assert.True(TrainingJobReconciler.StatusEquals(first.Status, again.Status), "a report already recorded must not change the status (no write)");
    }

    [Fact]
    public void Values_after_the_cursor_are_appended_and_a_new_reporter_restarts_the_cursor()
    {
        var job = RunningJob();
        var first = Decide(job, Replicas(Report(1, ("train_loss", 2.5, 10, 100))), TimeSpan.FromSeconds(30));
        // The report repeats value 1 (an operator that restarted asks from its cursor, but a report may overlap).
        var second = Decide(job.WithStatus(first.Status), Replicas(Report(1, ("train_loss", 2.5, 10, 100), ("train_loss", 2.25, 40, 200))), TimeSpan.FromSeconds(60));
        var restarted = new LiveReport("pod-uid-new", [new LivePoint(1, "train_loss", 1.5, T0.AddSeconds(70), 300)], null);
        var third = Decide(job.WithStatus(second.Status), Replicas(restarted), TimeSpan.FromSeconds(90));

        Assert.Equal([2.5, 2.25], MetricHistoryCodec.Decode(second.Status.MetricHistory).Of("train_loss").Select(p => p.Value));
        Assert.Equal([2.5, 2.25, 1.5], MetricHistoryCodec.Decode(third.Status.MetricHistory).Of("train_loss").Select(p => p.Value));
        Assert.Equal("pod-uid-new", third.Status.MetricSource!.Replica);
        Assert.Equal(1, third.Status.MetricSource.Sequence);
    }

    [Fact]
    public void Progress_comes_from_the_trainers_progress_line_with_an_eta_from_the_rate_so_far()
    {
        var job = RunningJob();
        var report = Report(1, ("train_loss", 2.5, 100, 100)) with { Progress = new LiveProgress(1, 4, 100, 400, T0.AddSeconds(100)) };

        var decision = Decide(job, Replicas(report), TimeSpan.FromSeconds(120));

        var progress = decision.Status.Progress!;
        Assert.Equal(25, progress.Percent);
        Assert.Equal(4, progress.Epochs);
        Assert.Equal(400, progress.Steps);
        // The attempt started at T0 and is a quarter done after 100 s: 300 s remain.
        Assert.Equal("5m", progress.Eta);
    }

    [Fact]
    public void Progress_of_a_bring_your_own_trainer_comes_from_the_epoch_metric_and_the_epochs_hyperparameter()
    {
        var job = RunningJob().With(j => j.Spec.HyperParameters = new Dictionary<string, string> { ["epochs"] = "10" });

        var decision = Decide(job, Replicas(Report(1, ("epoch", 3, 60, 0))), TimeSpan.FromSeconds(90));

        Assert.Equal(30, decision.Status.Progress!.Percent);
        Assert.Equal(3, decision.Status.Progress.Epoch);
        Assert.Equal(10, decision.Status.Progress.Epochs);
    }

    [Fact]
    public void LossNotDecreasing_with_Stop_records_Stopped_first_and_deletes_the_replicas_in_the_next_pass()
    {
        var job = RunningJob(Rule(TrainingRuleType.LossNotDecreasing, RuleAction.Stop, "loss-plateau"));
        var report = Report(1, ("train_loss", 1.0, 10, 100), ("train_loss", 1.1, 20, 200), ("train_loss", 1.05, 30, 300), ("train_loss", 1.2, 40, 400));

        var stop = Decide(job, Replicas(report), TimeSpan.FromSeconds(45));
        var next = Decide(job.WithStatus(stop.Status), Replicas(report), TimeSpan.FromSeconds(46));

        Assert.Equal(TrainingJobPhase.Stopped, stop.Status.Phase);
        Assert.Empty(stop.Delete);
        var triggered = ConditionList.Find(stop.Status.Conditions, TrainingJobConditions.RuleTriggered)!;
        Assert.Equal("True", triggered.Status);
        Assert.Equal("loss_plateau", triggered.Reason);
        Assert.Contains("1 (step 100)", triggered.Message, StringComparison.Ordinal);
        Assert.Contains("1.2 (step 400)", triggered.Message, StringComparison.Ordinal);
        Assert.Equal("loss_plateau", ConditionList.Find(stop.Status.Conditions, TrainingJobConditions.Stopped)!.Reason);
        Assert.Contains(stop.Events, e => e.Reason == "RuleTriggered" && e.Message.Contains("loss-plateau", StringComparison.Ordinal));
        var firing = Assert.Single(stop.Status.RuleFirings!);
        Assert.Equal((1, RuleAction.Stop), (firing.Attempt!.Value, firing.Action!.Value));
        Assert.Equal(2, next.Delete.Count);
        Assert.Null(next.Start);
        Assert.Equal(TrainingJobPhase.Stopped, next.Status.Phase);
    }

    [Fact]
    public void A_NaN_loss_fires_the_NaN_rule_although_status_metrics_can_only_hold_finite_values()
    {
        var job = RunningJob(Rule(TrainingRuleType.NaN, RuleAction.Stop));

        var decision = Decide(job, Replicas(Report(1, ("train_loss", 0.9, 10, 100), ("train_loss", double.NaN, 20, 200))), TimeSpan.FromSeconds(30));

        Assert.Equal(TrainingJobPhase.Stopped, decision.Status.Phase);
        Assert.Equal("NaN", ConditionList.Find(decision.Status.Conditions, TrainingJobConditions.RuleTriggered)!.Reason);
        Assert.Equal(0.9, Assert.Single(decision.Status.Metrics!).Value);
        Assert.Contains("10:NaN@200", decision.Status.MetricHistory!.Single().Points, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rule_with_action_None_records_once_and_a_later_Stop_rule_still_acts()
    {
        var job = RunningJob(
            new TrainingRule { Name = "accuracy-reached", Type = TrainingRuleType.MetricThreshold, Metric = "val_accuracy", Value = 0.8, Comparison = RuleComparison.GreaterThan, Action = RuleAction.None },
            new TrainingRule { Name = "loss-target", Type = TrainingRuleType.MetricThreshold, Metric = "train_loss", Value = 0.1, Comparison = RuleComparison.LessThan, Action = RuleAction.Stop });

        var first = Decide(job, Replicas(Report(1, ("val_accuracy", 0.85, 10, 100))), TimeSpan.FromSeconds(30));
        var second = Decide(job.WithStatus(first.Status), Replicas(Report(1, ("val_accuracy", 0.85, 10, 100))), TimeSpan.FromSeconds(60));
        var third = Decide(job.WithStatus(second.Status), Replicas(Report(2, ("train_loss", 0.05, 70, 200))), TimeSpan.FromSeconds(90));

        Assert.Equal(TrainingJobPhase.Running, first.Status.Phase);
        Assert.Equal("accuracy_reached", ConditionList.Find(first.Status.Conditions, TrainingJobConditions.RuleTriggered)!.Reason);
        Assert.Single(first.Events, e => e.Reason == "RuleTriggered");
        Assert.DoesNotContain(second.Events, e => e.Reason == "RuleTriggered");
        Assert.Equal(TrainingJobPhase.Stopped, third.Status.Phase);
        Assert.Equal("loss_target", ConditionList.Find(third.Status.Conditions, TrainingJobConditions.Stopped)!.Reason);
        Assert.Equal(["accuracy-reached", "loss-target"], third.Status.RuleFirings!.Select(f => f.Rule));
    }

    [Fact]
    public void Restart_ends_the_attempt_and_counts_against_maxRetries_and_fails_when_none_are_left()
    {
        var rule = new TrainingRule { Name = "stalled", Type = TrainingRuleType.Hang, Seconds = 60, Action = RuleAction.Restart };
        var job = RunningJob(rule).WithMaxRetries(1);
        var report = Report(1, ("train_loss", 1.0, 10, 100));
        var recorded = Decide(job, Replicas(report), TimeSpan.FromSeconds(20));
        Assert.Equal(TrainingJobPhase.Running, recorded.Status.Phase);

        var restart = Decide(job.WithStatus(recorded.Status), Replicas(report), TimeSpan.FromSeconds(75));

        Assert.Equal(2, restart.Status.Attempt);
        Assert.Equal(1, restart.Status.Retries);
        Assert.Equal("stalled", ConditionList.Find(restart.Status.Conditions, TrainingJobConditions.RuleTriggered)!.Reason);
        Assert.Empty(restart.Delete);

        // Attempt 2 hangs as well: no retry is left.
        var status = KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(restart.Status));
        status.Phase = TrainingJobPhase.Running;
        status.AttemptStartTime = T0.AddSeconds(100).UtcDateTime;
        var attempt2 = Pods(attempt: 2).Running(2).Build().Select(r => r with { StartedAt = T0.AddSeconds(100).UtcDateTime }).ToList();
        attempt2[0] = attempt2[0] with { Live = new LiveReport("pod-2", [new LivePoint(1, "train_loss", 0.9, T0.AddSeconds(110), 10)], null) };
        var failed = Decide(job.WithStatus(status), attempt2, TimeSpan.FromSeconds(200));

        Assert.Equal(TrainingJobPhase.Failed, failed.Status.Phase);
        Assert.Equal("stalled", ConditionList.Find(failed.Status.Conditions, TrainingJobConditions.Failed)!.Reason);
        Assert.Equal([1, 2], failed.Status.RuleFirings!.Select(f => f.Attempt!.Value));
    }

    [Fact]
    public void The_history_at_its_bound_is_small_and_round_trips()
    {
        var history = new MetricHistory();
        var names = new[] { "train_loss", "val_loss", "val_accuracy", "epoch" };
        var random = new Random(7);
        for (var i = 0; i < 300; i++)
        {
            foreach (var name in names)
            {
                history.Add(name, new MetricPoint(Math.Round(random.NextDouble() * 3, 4), T0.AddSeconds(i * 30), 100L * i));
            }
        }

        var encoded = MetricHistoryCodec.Encode(history, _ => MetricHistoryCodec.DefaultKept);
        var size = Encoding.UTF8.GetByteCount(KubernetesJson.Serialize(encoded));
        var decoded = MetricHistoryCodec.Decode(encoded);
        var status = new TrainingJobStatus { MetricHistory = encoded };
        var statusSize = Encoding.UTF8.GetByteCount(KubernetesJson.Serialize(status));
        output.WriteLine($"metricHistory of 4 metrics x {MetricHistoryCodec.DefaultKept} values: {size} bytes as JSON ({statusSize} bytes as status)");

        Assert.All(names, n => Assert.Equal(MetricHistoryCodec.DefaultKept, decoded.Of(n).Count));
        Assert.Equal(history.Of("train_loss").TakeLast(100).Select(p => (p.Value, p.Time, p.Step)), decoded.Of("train_loss").Select(p => (p.Value, p.Time, p.Step)));
        Assert.InRange(size, 1, 12 * 1024);
    }

    [Fact]
    public void A_rules_patience_keeps_more_values_than_the_default()
    {
        Assert.Equal(100, MetricHistoryCodec.KeptFor("train_loss", null));
        Assert.Equal(251, MetricHistoryCodec.KeptFor("val_loss", [new TrainingRule { Type = TrainingRuleType.Overfit, Patience = 250 }]));
    }

    [Fact]
    public void The_recorder_numbers_values_with_their_step_and_epoch_and_reads_progress_lines()
    {
        var recorder = new LiveMetricRecorder(MetricDefinition.Defaults.Select(d => new AgentMetricDefinition(d.Name, d.Regex)));

        recorder.Observe("epoch=1 step=50 train_loss=2.3000", T0);
        recorder.Observe("progress epoch=1/3 step=50/300", T0);
        recorder.Observe("epoch=1 step=100 train_loss=nan val_loss=1.9 val_accuracy=0.41", T0.AddSeconds(1));

        var points = recorder.After(0);
        // The progress line is progress only: the default `epoch` metric does not count it a second time.
        Assert.Equal(["train_loss", "epoch", "train_loss", "val_loss", "val_accuracy", "epoch"], points.Select(p => p.Name));
        Assert.Equal(Enumerable.Range(1, points.Count).Select(i => (long)i), points.Select(p => p.Sequence));
        Assert.True(double.IsNaN(points.Single(p => p.Name == "train_loss" && p.Step == 100).Value));
        Assert.Equal(new LiveProgress(1, 3, 50, 300, T0), recorder.Progress);
        Assert.Equal(points.Skip(4), recorder.After(4));
    }

    [Fact]
    public void The_agents_document_travels_with_NaN_and_moves_times_onto_the_operators_clock()
    {
        var agentNow = T0.AddHours(1);
        var document = new LiveMetricsDocument("job", "pod", agentNow, [new LivePoint(1, "train_loss", double.NaN, agentNow.AddSeconds(-10), 5)], null);

        var parsed = LiveMetricsDocument.Parse(document.Serialize())!;
        var report = parsed.ToReport(T0);

        Assert.True(double.IsNaN(report.Points[0].Value));
        Assert.Equal(T0.AddSeconds(-10), report.Points[0].Time);
        Assert.Equal("pod", report.Replica);
    }
}
