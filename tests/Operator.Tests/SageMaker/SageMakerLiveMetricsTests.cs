using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator.Faults;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Insight;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Tests.Fixtures;
using Ferry.SageMakerEmulator.Jobs;

namespace Ferry.Operator.Tests.SageMaker;

/// <summary>
/// Live metrics of SageMaker jobs, read from rank 0's CloudWatch log stream in the SageMaker emulator (requests
/// validated against botocore's logs model) while the job trains: they reach status.metrics, metricHistory and
/// progress within the call budget, feed the rules (Stop, Restart), and survive an operator restart.
/// </summary>
public sealed class SageMakerLiveMetricsTests
{
    private static readonly string[] PerJobOperations = ["DescribeTrainingJob", "ListTags", "DescribeLogStreams", "GetLogEvents"];

    private static bool Phase(TrainingJob? job, TrainingJobPhase phase) => job?.Status?.Phase == phase;

    /// <summary>Training of <paramref name="training"/> printing a train_loss line every minute (4 epochs).</summary>
    private static JobScript Training(TimeSpan training) => SageMakerOperatorHarness.Script with
    {
        Training = training,
        LogLines = JobScript.TrainingLog(training, TimeSpan.FromMinutes(1)),
    };

    private static int LoggedBy(TimeSpan trained, string metric) =>
        JobScript.TrainingLog(TimeSpan.FromHours(10), TimeSpan.FromMinutes(1)).Count(l => l.AfterTraining <= trained && l.Message.Contains(metric + "=", StringComparison.Ordinal));

    [Fact]
    public async Task Metrics_reach_status_while_the_job_trains_within_30_calls_per_job_hour_and_a_status_write_per_read()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.Default = Training(TimeSpan.FromHours(2));
        await h.ApplyAsync(SageMakerOperatorHarness.Job("live"));

        var running = await h.ReconcileUntilAsync("live", j => Phase(j, TrainingJobPhase.Running), TimeSpan.FromSeconds(5));
        var trainingStart = running!.Status!.StartTime!.Value;
        var writes = 0;
        var version = running.Metadata.ResourceVersion;
        var passes = 0;
        TrainingJob? job = running;
        // One hour of training, a pass every 20 s (the backend's recheck interval).
        while (h.Time.GetUtcNow().UtcDateTime < trainingStart.AddMinutes(61))
        {
            h.Time.Advance(TimeSpan.FromSeconds(20));
            await h.PassAsync("live");
            passes++;
            job = await h.GetAsync("live");
            if (job!.Metadata.ResourceVersion != version)
            {
                writes++;
                version = job.Metadata.ResourceVersion;
            }
        }

        var status = job!.Status!;
        Assert.Equal(TrainingJobPhase.Running, status.Phase);
        var trained = h.Time.GetUtcNow().UtcDateTime - trainingStart;
        var loss = Assert.Single(status.Metrics!, m => m.Name == "train_loss");
        // The latest value is at most one read interval (5 min, +20 % jitter) and a pass old.
        Assert.InRange(Ferry.Operator.Reconciliation.Policies.DecisionContext.Utc(loss.Timestamp!.Value), h.Time.GetUtcNow().UtcDateTime.AddMinutes(-6.5), h.Time.GetUtcNow().UtcDateTime);
        Assert.NotNull(loss.Step);
        Assert.Contains(status.Metrics!, m => m.Name == "val_accuracy");
        var history = MetricHistoryCodec.Decode(status.MetricHistory);
        var steps = history.Of("train_loss").Select(p => p.Step!.Value).ToList();
        Assert.Equal(steps.Count, steps.Distinct().Count());
        Assert.InRange(steps.Count, LoggedBy(trained - TimeSpan.FromMinutes(6.5), "train_loss"), LoggedBy(trained, "train_loss"));
        Assert.Equal(Enumerable.Range(1, steps.Count).Select(i => i * 100L), steps); // every line, in order, none twice
        Assert.StartsWith(await h.SageMakerNameAsync("live", 1) + "/algo-1-", status.MetricSource!.Replica, StringComparison.Ordinal);
        Assert.NotNull(status.Progress);
        Assert.InRange(status.Progress!.Percent!.Value, 25, 50); // 1 of 2 hours, as the trainer's progress lines say
        Assert.Equal(4, status.Progress.Epochs);

        // The budget: every call made for this job over its first hour and a half in SageMaker (the region's shared
        // ListTrainingJobs feed is counted apart: the benchmark measures its share at scale).
        var counts = h.SageMaker.RequestLog.Counts;
        var perJob = PerJobOperations.Sum(o => counts.GetValueOrDefault(o));
        var hours = (h.Time.GetUtcNow() - Build.T0).TotalHours;
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{perJob} calls for the job in {hours:0.00} h ({string.Join(' ', PerJobOperations.Select(o => $"{o}={counts.GetValueOrDefault(o)}"))}), " +
            $"ListTrainingJobs={counts.GetValueOrDefault("ListTrainingJobs")}; {writes} status writes in {passes} passes over {trained.TotalMinutes:0} min of training");
        Console.WriteLine(summary);
        Assert.True(perJob / hours <= 30, summary);
        Assert.True(counts.GetValueOrDefault("GetLogEvents") >= 10, summary);
        Assert.Equal(1, counts.GetValueOrDefault("DescribeLogStreams"));
        // One status write per read with new values (12 reads an hour), not one per line or per pass.
        Assert.InRange(writes, 8, 16);
    }

    [Theory]
    [InlineData(true, 2, 3)]
    [InlineData(false, 5, 6)]
    public async Task While_the_log_grows_the_describe_heartbeat_comes_every_20_minutes_else_every_10(bool logging, int least, int most)
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.Default = logging ? Training(TimeSpan.FromHours(2)) : SageMakerOperatorHarness.Script with { Training = TimeSpan.FromHours(2) };
        await h.ApplyAsync(SageMakerOperatorHarness.Job("beat"));
        var running = await h.ReconcileUntilAsync("beat", j => Phase(j, TrainingJobPhase.Running), TimeSpan.FromSeconds(5));
        var before = h.SageMaker.RequestLog.Counts.GetValueOrDefault("DescribeTrainingJob");
        var end = h.Time.GetUtcNow().AddMinutes(60);

        // An hour of steady training, a pass every 20 s: no status transition, so only heartbeats describe the job.
        while (h.Time.GetUtcNow() < end)
        {
            h.Time.Advance(TimeSpan.FromSeconds(20));
            await h.PassAsync("beat");
        }

        var counts = h.SageMaker.RequestLog.Counts;
        var describes = counts.GetValueOrDefault("DescribeTrainingJob") - before;
        Assert.True(describes >= least && describes <= most,
            $"{describes} describes in an hour of training (log {(logging ? "growing" : "quiet")}); GetLogEvents={counts.GetValueOrDefault("GetLogEvents")}");
        Assert.Equal(TrainingJobPhase.Running, (await h.GetAsync("beat"))!.Status!.Phase);
    }

    [Fact]
    public async Task A_Stop_rule_on_a_logged_metric_stops_the_SageMaker_job_once_and_it_ends_Stopped_with_the_rule_as_reason()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.Default = Training(TimeSpan.FromHours(2));
        await h.ApplyAsync(SageMakerOperatorHarness.Job("early", s =>
        {
            s.MaxRetries = 2;
            s.Rules = [new TrainingRule { Name = "good-enough", Type = TrainingRuleType.MetricThreshold, Metric = "train_loss", Value = 1.0, Comparison = RuleComparison.LessThan, Action = RuleAction.Stop }];
        }));

        var stopped = await h.ReconcileUntilAsync("early", j => Phase(j, TrainingJobPhase.Stopped), TimeSpan.FromSeconds(20), timeoutSeconds: 300);
        var smName = await h.SageMakerNameAsync("early", 1);
        // Status first: the stop is recorded before StopTrainingJob is called, in the next pass.
        var condition = ConditionList.Find(stopped!.Status!.Conditions, TrainingJobConditions.Stopped)!;
        Assert.Equal(("True", "good_enough"), (condition.Status, condition.Reason));
        Assert.Contains("train_loss", ConditionList.Find(stopped.Status.Conditions, TrainingJobConditions.RuleTriggered)!.Message, StringComparison.Ordinal);
        var firing = Assert.Single(stopped.Status.RuleFirings!);
        Assert.Equal(("good-enough", 1), (firing.Rule, firing.Attempt));

        var ended = await h.ReconcileUntilAsync("early", _ => (string?)h.Describe(smName)["TrainingJobStatus"] == "Stopped", TimeSpan.FromSeconds(10), timeoutSeconds: 120);
        for (var i = 0; i < 10; i++)
        {
            h.Time.Advance(TimeSpan.FromMinutes(1));
            await h.PassAsync("early");
        }

        var final = (await h.GetAsync("early"))!.Status!;
        Assert.Equal(TrainingJobPhase.Stopped, final.Phase);
        Assert.Equal("good_enough", ConditionList.Find(final.Conditions, TrainingJobConditions.Stopped)!.Reason);
        Assert.Equal(1, h.SageMaker.RequestLog.Count("StopTrainingJob"));
        Assert.Equal(1, h.SageMaker.RequestLog.Count("CreateTrainingJob")); // never retried
        Assert.Equal(1, final.Attempt);
        Assert.Contains(await h.EventsOfAsync("early"), e => e is { Type: "Warning", Reason: "RuleTriggered" });
    }

    [Fact]
    public async Task A_Restart_rule_stops_the_attempt_and_starts_the_next_counted_against_maxRetries()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.Default = Training(TimeSpan.FromHours(2));
        await h.ApplyAsync(SageMakerOperatorHarness.Job("again", s =>
        {
            s.MaxRetries = 1;
            s.Rules = [new TrainingRule { Name = "too-slow", Type = TrainingRuleType.MetricThreshold, Metric = "train_loss", Value = 1.0, Comparison = RuleComparison.LessThan, Action = RuleAction.Restart }];
        }));

        var restarted = await h.ReconcileUntilAsync("again", j => j?.Status?.Attempt == 2, TimeSpan.FromSeconds(20), timeoutSeconds: 300);
        Assert.Equal(1, restarted!.Status!.Retries);
        var first = await h.SageMakerNameAsync("again", 1);
        await h.ReconcileUntilAsync("again", _ => (string?)h.Describe(first)["TrainingJobStatus"] == "Stopped", TimeSpan.FromSeconds(10), timeoutSeconds: 120);
        Assert.Equal(1, h.SageMaker.RequestLog.Entries.Count(e => e.Operation == "StopTrainingJob" && e.JobName == first));

        // Attempt 2 starts with its own stream; the rule fires again with no retry left: the job fails and attempt 2 is stopped.
        var failed = await h.ReconcileUntilAsync("again", j => Phase(j, TrainingJobPhase.Failed), TimeSpan.FromSeconds(20), timeoutSeconds: 300);
        var second = await h.SageMakerNameAsync("again", 2);
        Assert.Equal("too_slow", ConditionList.Find(failed!.Status!.Conditions, TrainingJobConditions.Failed)!.Reason);
        Assert.Equal([1, 2], failed.Status.RuleFirings!.Select(f => f.Attempt));
        Assert.StartsWith(second + "/algo-1-", failed.Status.MetricSource!.Replica, StringComparison.Ordinal);
        await h.ReconcileUntilAsync("again", _ => (string?)h.Describe(second)["TrainingJobStatus"] == "Stopped", TimeSpan.FromSeconds(10), timeoutSeconds: 120);
        Assert.Equal(2, h.SageMaker.RequestLog.Count("CreateTrainingJob"));
        Assert.Equal(1, h.SageMaker.RequestLog.Entries.Count(e => e.Operation == "StopTrainingJob" && e.JobName == second));
    }

    [Fact]
    public async Task An_operator_restart_mid_training_loses_and_duplicates_no_logged_value()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.Default = Training(TimeSpan.FromMinutes(50));
        await h.ApplyAsync(SageMakerOperatorHarness.Job("steady"));
        var running = await h.ReconcileUntilAsync("steady", j => j?.Status?.MetricHistory is { Count: > 0 }, TimeSpan.FromSeconds(20), timeoutSeconds: 300);
        var before = MetricHistoryCodec.Decode(running!.Status!.MetricHistory).Of("train_loss").Count;

        // The next read's values are read but their status write fails (the operator dies there); then a new operator.
        var readsBefore = h.SageMaker.RequestLog.Count("GetLogEvents");
        var fault = h.Api.Faults.Add(new FaultRule { Verb = "update", Resource = "trainingjobs", Subresource = "status", StatusCode = 500 });
        while (h.SageMaker.RequestLog.Count("GetLogEvents") == readsBefore)
        {
            h.Time.Advance(TimeSpan.FromSeconds(20));
            try
            {
                await h.Reconciler.ReconcileAsync(SageMakerOperatorHarness.Namespace, "steady", CancellationToken.None);
            }
            catch (Ferry.Operator.Runtime.Resources.KubernetesApiException)
            {
                // The status write failed: the values read in this pass were never recorded.
            }
        }

        h.Api.Faults.Remove(fault);
        Assert.Equal(before, MetricHistoryCodec.Decode((await h.GetAsync("steady"))!.Status!.MetricHistory).Of("train_loss").Count);
        h.Restart();
        Assert.Equal(0, h.Backend.LiveMetrics.Following);

        var done = await h.ReconcileUntilAsync("steady", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(20), timeoutSeconds: 300);
        var smName = await h.SageMakerNameAsync("steady", 1);
        var trainingEnd = (string?)h.Describe(smName)["TrainingEndTime"]?.ToString();
        var history = MetricHistoryCodec.Decode(done!.Status!.MetricHistory);
        var steps = history.Of("train_loss").Select(p => p.Step!.Value).ToList();
        // Every value up to the last read, once, in order: nothing lost across the restart, nothing recorded twice.
        Assert.True(steps.Count > before, $"history {before} -> {steps.Count}; {trainingEnd}");
        Assert.Equal(Enumerable.Range(1, steps.Count).Select(i => i * 100L), steps);
        Assert.Equal(2, h.SageMaker.RequestLog.Count("DescribeLogStreams")); // once per operator
    }

    [Fact]
    public async Task A_Hang_rule_shorter_than_two_log_reads_is_refused_before_any_SageMaker_call_naming_the_field()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        await h.ApplyAsync(SageMakerOperatorHarness.Job("twitchy", s =>
            s.Rules = [new TrainingRule { Name = "stalled", Type = TrainingRuleType.Hang, Metric = "train_loss", Seconds = 120, Action = RuleAction.Restart }]));

        var failed = await h.ReconcileUntilAsync("twitchy", j => Phase(j, TrainingJobPhase.Failed));

        var condition = ConditionList.Find(failed!.Status!.Conditions, TrainingJobConditions.Failed)!;
        Assert.Equal("InvalidSpec", condition.Reason);
        Assert.Contains("spec.rules[0].seconds (120)", condition.Message, StringComparison.Ordinal);
        Assert.Contains("at least 600 s", condition.Message, StringComparison.Ordinal);
        Assert.Empty(h.SageMaker.RequestLog.Counts);
    }
}
