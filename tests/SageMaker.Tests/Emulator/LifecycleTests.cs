using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator.Jobs;

namespace Ferry.SageMaker.Tests.Emulator;

/// <summary>The emulator's training jobs move through SageMaker's statuses on the injected clock.</summary>
public sealed class LifecycleTests
{
    private static readonly JobScript Script = new()
    {
        Starting = TimeSpan.FromSeconds(60),
        Downloading = TimeSpan.FromSeconds(30),
        Training = TimeSpan.FromSeconds(600),
        Uploading = TimeSpan.FromSeconds(20),
        Stopping = TimeSpan.FromSeconds(30),
        FinalMetrics = new Dictionary<string, double> { ["train_loss"] = 0.125, ["val_accuracy"] = 0.875 },
    };

    private static async Task<(EmulatorHarness H, string Name)> StartJob(JobScript script, Action<Crds.V1Alpha1.TrainingJobSpec>? change = null)
    {
        var h = await EmulatorHarness.StartAsync();
        h.Emulator.Scripts.Default = script;
        var request = TrainingJobRequestBuilder.Build(Jobs.SageMaker(change), 1);
        await h.Client.CreateTrainingJobAsync(request);
        return (h, request.TrainingJobName);
    }

    private static Task<DescribeTrainingJobResponse> Describe(EmulatorHarness h, string name) =>
        h.Client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = name });

    [Fact]
    public async Task AJobCompletesThroughEverySecondaryStatus()
    {
        var (h, name) = await StartJob(Script);
        await using var _ = h;
        var seen = new List<(string, string)>();
        foreach (var step in new[] { 0, 60, 30, 600, 20 })
        {
            h.Time.Advance(TimeSpan.FromSeconds(step));
            var d = await Describe(h, name);
            seen.Add((d.TrainingJobStatus, d.SecondaryStatus));
        }

        var done = await Describe(h, name);

        Assert.Equal(
            [("InProgress", "Starting"), ("InProgress", "Downloading"), ("InProgress", "Training"), ("InProgress", "Uploading"), ("Completed", "Completed")],
            seen);
        Assert.Equal(["Starting", "Downloading", "Training", "Uploading", "Completed"], done.SecondaryStatusTransitions!.Select(t => t.Status));
        var t0 = EmulatorHarness.Start;
        Assert.Equal([t0, t0.AddSeconds(60), t0.AddSeconds(90), t0.AddSeconds(690), t0.AddSeconds(710)], done.SecondaryStatusTransitions!.Select(t => t.StartTime));
        Assert.Equal([t0.AddSeconds(60), t0.AddSeconds(90), t0.AddSeconds(690), t0.AddSeconds(710), t0.AddSeconds(710)], done.SecondaryStatusTransitions!.Select(t => t.EndTime!.Value));
        Assert.Equal(t0.AddSeconds(60), done.TrainingStartTime);
        Assert.Equal(t0.AddSeconds(710), done.TrainingEndTime);
        Assert.Equal(650, done.TrainingTimeInSeconds);
        Assert.Equal(650, done.BillableTimeInSeconds);
        Assert.Equal([("train_loss", 0.125f), ("val_accuracy", 0.875f)], done.FinalMetricDataList!.Select(m => (m.MetricName!, m.Value!.Value)));
        Assert.Equal($"s3://artifacts/mnist/{name}/output/model.tar.gz", done.ModelArtifacts!.S3ModelArtifacts);
        Assert.Null(done.FailureReason);
        Assert.Empty(h.Emulator.OutputViolations);
    }

    [Fact]
    public async Task AFailedJobCarriesItsReasonAndNeverUploads()
    {
        var (h, name) = await StartJob(Script with { Outcome = JobOutcome.Failed, FailureReason = "AlgorithmError: loss is NaN" });
        await using var _ = h;
        h.Time.Advance(TimeSpan.FromHours(1));

        var d = await Describe(h, name);

        Assert.Equal(("Failed", "Failed"), (d.TrainingJobStatus, d.SecondaryStatus));
        Assert.Equal("AlgorithmError: loss is NaN", d.FailureReason);
        Assert.DoesNotContain(d.SecondaryStatusTransitions!, t => t.Status == "Uploading");
        Assert.Empty(h.Emulator.OutputViolations);
    }

    [Fact]
    public async Task ASpotInterruptionWaitsStartsAgainAndBillsLess()
    {
        var script = Script with { SpotInterruptions = [new SpotInterruption(TimeSpan.FromSeconds(100), TimeSpan.FromSeconds(300))], SpotBillableFraction = 0.5 };
        var (h, name) = await StartJob(script, s => { s.Spot = true; s.StoppingCondition = new() { MaxRuntimeSeconds = 3600, MaxWaitSeconds = 7200 }; });
        await using var _ = h;
        h.Time.Advance(TimeSpan.FromSeconds(60 + 30 + 100));
        var interrupted = await Describe(h, name);
        h.Time.Advance(TimeSpan.FromHours(2));

        var done = await Describe(h, name);

        Assert.Equal(("InProgress", "Interrupted"), (interrupted.TrainingJobStatus, interrupted.SecondaryStatus));
        Assert.Equal(["Starting", "Downloading", "Training", "Interrupted", "Starting", "Downloading", "Training", "Uploading", "Completed"],
            done.SecondaryStatusTransitions!.Select(t => t.Status));
        // Billed: 30 + 100 + 30 + 500 + 20 s of work, at the spot fraction; the run spans 60 + 30 + 100 + 300 + 60 + 30 + 500 + 20 - 60.
        Assert.Equal(340, done.BillableTimeInSeconds);
        Assert.Equal(1040, done.TrainingTimeInSeconds);
        Assert.True(done.EnableManagedSpotTraining);
    }

    [Fact]
    public async Task ARunLongerThanMaxRuntimeIsStoppedBySageMaker()
    {
        var (h, name) = await StartJob(Script, s => s.StoppingCondition = new() { MaxRuntimeSeconds = 300 });
        await using var _ = h;
        h.Time.Advance(TimeSpan.FromHours(1));

        var d = await Describe(h, name);

        Assert.Equal(("Stopped", "MaxRuntimeExceeded"), (d.TrainingJobStatus, d.SecondaryStatus));
        Assert.Equal(EmulatorHarness.Start.AddSeconds(60 + 30 + 300), d.TrainingEndTime);
    }

    [Fact]
    public async Task StopMovesAnInProgressJobThroughStoppingToStoppedAndOnlyOnce()
    {
        var (h, name) = await StartJob(Script);
        await using var _ = h;
        h.Time.Advance(TimeSpan.FromSeconds(200));
        await h.Client.StopTrainingJobAsync(new StopTrainingJobRequest { TrainingJobName = name });
        var stopping = await Describe(h, name);
        var again = await Assert.ThrowsAsync<SageMakerValidationException>(() => h.Client.StopTrainingJobAsync(new StopTrainingJobRequest { TrainingJobName = name }));
        h.Time.Advance(TimeSpan.FromSeconds(30));

        var stopped = await Describe(h, name);

        Assert.Equal(("Stopping", "Stopping"), (stopping.TrainingJobStatus, stopping.SecondaryStatus));
        Assert.Contains("Stopping", again.ErrorMessage);
        Assert.Equal(("Stopped", "Stopped"), (stopped.TrainingJobStatus, stopped.SecondaryStatus));
        Assert.Equal(["Starting", "Downloading", "Training", "Stopping", "Stopped"], stopped.SecondaryStatusTransitions!.Select(t => t.Status));
        Assert.Empty(h.Emulator.OutputViolations);
    }

    [Fact]
    public async Task ScriptsApplyByJobNamePattern()
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Scripts.Default = Script;
        h.Emulator.Scripts.When("fails-*", Script with { Outcome = JobOutcome.Failed });
        var failing = TrainingJobRequestBuilder.Build(Jobs.SageMaker(name: "fails-soon"), 1);
        var passing = TrainingJobRequestBuilder.Build(Jobs.SageMaker(name: "passes"), 1);
        await h.Client.CreateTrainingJobAsync(failing);
        await h.Client.CreateTrainingJobAsync(passing);
        h.Time.Advance(TimeSpan.FromHours(1));

        Assert.Equal("Failed", (await Describe(h, failing.TrainingJobName)).TrainingJobStatus);
        Assert.Equal("Completed", (await Describe(h, passing.TrainingJobName)).TrainingJobStatus);
        Assert.Equal(2, h.Emulator.RequestLog.Count("DescribeTrainingJob"));
    }

    [Fact]
    public async Task ListFiltersByStatusAndName()
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Scripts.Default = Script;
        h.Emulator.Scripts.When("quick-*", Script with { Training = TimeSpan.FromSeconds(1) });
        foreach (var name in new[] { "quick-a", "slow-b", "slow-c" })
        {
            await h.Client.CreateTrainingJobAsync(TrainingJobRequestBuilder.Build(Jobs.SageMaker(name: name), 1));
        }

        h.Time.Advance(TimeSpan.FromMinutes(5));

        var inProgress = await h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest { StatusEquals = "InProgress" });
        var named = await h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = "quick" });

        Assert.Equal(["slow-b", "slow-c"], inProgress.TrainingJobSummaries.Select(s => s.TrainingJobName[..6]).Order());
        Assert.Equal("Completed", Assert.Single(named.TrainingJobSummaries).TrainingJobStatus);
    }
}
