using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using k8s.Models;

namespace Ferry.SageMaker.Tests.Mapping;

/// <summary>DescribeTrainingJob → what the status function sees, the role allowlist, and transitions → Events.</summary>
public sealed class SageMakerStatusMappingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);

    private static DescribeTrainingJobResponse Described(string status, string secondary, Action<DescribeTrainingJobResponse>? _ = null) => new()
    {
        TrainingJobName = "mnist-0a1b2c3d-1",
        TrainingJobArn = "arn:aws:sagemaker:eu-west-1:123456789012:training-job/mnist-0a1b2c3d-1",
        TrainingJobStatus = status,
        SecondaryStatus = secondary,
        CreationTime = T0,
        TrainingStartTime = T0.AddMinutes(1),
        ModelArtifacts = new ModelArtifacts("s3://out/mnist-0a1b2c3d-1/output/model.tar.gz"),
    };

    public static TheoryData<string, string, ReplicaState, bool> States() => new()
    {
        { "InProgress", "Starting", ReplicaState.Pending, false },
        { "InProgress", "Pending", ReplicaState.Pending, false },
        { "InProgress", "LaunchingMLInstances", ReplicaState.Pending, false },
        { "InProgress", "PreparingTrainingStack", ReplicaState.Pending, false },
        { "InProgress", "Downloading", ReplicaState.Pending, false },
        { "InProgress", "DownloadingTrainingImage", ReplicaState.Pending, false },
        { "InProgress", "Interrupted", ReplicaState.Pending, false },
        { "InProgress", "Restarting", ReplicaState.Pending, false },
        { "InProgress", "Training", ReplicaState.Running, false },
        { "InProgress", "Uploading", ReplicaState.Running, false },
        { "Stopping", "Stopping", ReplicaState.Running, true },
        { "Completed", "Completed", ReplicaState.Succeeded, false },
        { "Failed", "Failed", ReplicaState.Failed, false },
        { "Stopped", "Stopped", ReplicaState.Failed, false },
        { "Stopped", "MaxRuntimeExceeded", ReplicaState.Failed, false },
        { "Stopped", "MaxWaitTimeExceeded", ReplicaState.Failed, false },
    };

    [Theory]
    [MemberData(nameof(States))]
    public void Statuses_map_to_the_attempts_state(string status, string secondary, ReplicaState state, bool stopping)
    {
        var observed = SageMakerStatusMapping.Map(Described(status, secondary), 1, "eu-west-1");

        Assert.Equal((state, stopping), (observed.State, observed.Stopping));
        Assert.Equal(state == ReplicaState.Pending ? null : T0.AddMinutes(1).UtcDateTime, observed.StartedAt);
        Assert.Equal(status == "Completed" ? "s3://out/mnist-0a1b2c3d-1/output/model.tar.gz" : null, observed.ModelUri);
        Assert.Equal((status, secondary), (observed.Details!.Status, observed.Details.SecondaryStatus));
    }

    [Theory]
    [InlineData("MaxRuntimeExceeded", "spec.stoppingCondition.maxRuntimeSeconds")]
    [InlineData("MaxWaitTimeExceeded", "spec.stoppingCondition.maxWaitSeconds")]
    [InlineData("Stopped", "stopped outside Ferry")]
    public void A_stop_by_SageMaker_or_someone_else_says_why(string secondary, string text) =>
        Assert.Contains(text, SageMakerStatusMapping.Map(Described("Stopped", secondary), 1, "eu-west-1").FailureReason, StringComparison.Ordinal);

    [Fact]
    public void A_finished_job_reports_failure_reason_metrics_times_spot_savings_and_its_logs()
    {
        var job = Described("Failed", "Failed") with
        {
            FailureReason = "AlgorithmError: " + new string('x', 2000),
            FinalMetricDataList = [new MetricData { MetricName = "train_loss", Value = 0.5f, Timestamp = T0.AddHours(1) }, new MetricData { MetricName = "nothing" }],
            EnableManagedSpotTraining = true,
            TrainingTimeInSeconds = 1000,
            BillableTimeInSeconds = 300,
            SecondaryStatusTransitions =
            [
                new SecondaryStatusTransition { Status = "Starting", StartTime = T0, StatusMessage = "Preparing the instances for training" },
                new SecondaryStatusTransition { Status = "Failed", StartTime = T0.AddHours(1) },
            ],
        };

        var observed = SageMakerStatusMapping.Map(job, 2, "eu-west-1");

        Assert.Equal(1024, observed.FailureReason!.Length);
        Assert.Equal(("train_loss", 0.5, T0.AddHours(1)), (observed.Metrics!.Single().Name, observed.Metrics![0].Value, observed.Metrics[0].Timestamp));
        Assert.Equal((1000L, 300L, 70), (observed.Details!.TrainingSeconds!.Value, observed.Details.BillableSeconds!.Value, observed.Details.SpotSavingsPercent!.Value));
        Assert.Equal(["Starting", "Failed"], observed.Transitions!.Select(t => t.Status));
        Assert.Equal(2, observed.Attempt);
        Assert.Equal("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3Dmnist-0a1b2c3d-1",
            observed.Details.LogsUrl);
        Assert.Null(SageMakerStatusMapping.Map(job with { EnableManagedSpotTraining = false }, 2, "eu-west-1").Details!.SpotSavingsPercent);
    }

    [Theory]
    [InlineData("ml-team", "arn:aws:iam::123456789012:role/ml-team-training", true)]
    [InlineData("ml-team", "arn:aws:iam::123456789012:role/ml-team-training-2", false)]
    [InlineData("ml-team", "arn:aws:iam::123456789012:role/ferry-training-a", false)] // a listed namespace has only its own
    [InlineData("other", "arn:aws:iam::123456789012:role/ferry-training-a", true)]
    [InlineData("other", "arn:aws:iam::210987654321:role/ferry-training-a", false)]
    [InlineData("other", "arn:aws:iam::123456789012:role/ferry-training-", true)]
    public void The_allowlist_matches_globs_by_namespace_with_a_default(string ns, string role, bool allowed)
    {
        var allowlist = new RoleAllowlist(new Dictionary<string, IReadOnlyList<string>>
        {
            ["ml-team"] = ["arn:aws:iam::123456789012:role/ml-team-training"],
            [RoleAllowlist.AnyNamespace] = ["arn:aws:iam::123456789012:role/ferry-training-*", "arn:aws:iam::1234567890??:role/unused"],
        });

        Assert.Equal(allowed, allowlist.Allows(ns, role));
        Assert.Equal(allowed, allowlist.Refusal(ns, role) is null);
    }

    [Fact]
    public void An_empty_allowlist_refuses_every_role_and_says_where_to_allow_it()
    {
        var refusal = new RoleAllowlist(new Dictionary<string, IReadOnlyList<string>>()).Refusal("ml-team", "arn:aws:iam::123456789012:role/x");

        Assert.Contains("no role is allowed in namespace ml-team", refusal, StringComparison.Ordinal);
        Assert.Contains("sageMaker.allowedRoles.ml-team", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_transition_becomes_one_event_once()
    {
        var traits = new BackendTraits(RemoteJob: true, EnforcedDeadlines.MaxRuntime | EnforcedDeadlines.MaxWait);
        var job = Jobs.SageMaker();
        job.Metadata.Generation = 1;
        job.Status = new TrainingJobStatus { Attempt = 1, Phase = TrainingJobPhase.Starting, AttemptStartTime = T0.UtcDateTime };
        RemoteJobObservation At(params string[] statuses) => SageMakerStatusMapping.Map(Described("InProgress", statuses[^1]) with
        {
            SecondaryStatusTransitions = [.. statuses.Select((s, i) => new SecondaryStatusTransition { Status = s, StartTime = T0.AddMinutes(i) })],
        }, 1, "eu-west-1");
        TrainingJobDecision Decide(RemoteJobObservation remote) =>
            TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, [], T0.AddMinutes(5)) { Traits = traits, RemoteJobs = [remote] });

        var first = Decide(At("Starting", "Downloading"));
        job.Status = first.Status;
        var again = Decide(At("Starting", "Downloading"));
        job.Status = again.Status;
        var later = Decide(At("Starting", "Downloading", "Training"));

        Assert.Equal(["SageMakerStarting", "SageMakerDownloading"], first.Events.Where(e => e.Reason.StartsWith("SageMaker", StringComparison.Ordinal)).Select(e => e.Reason));
        Assert.DoesNotContain(again.Events, e => e.Reason.StartsWith("SageMaker", StringComparison.Ordinal));
        Assert.Equal(["SageMakerTraining"], later.Events.Where(e => e.Reason.StartsWith("SageMaker", StringComparison.Ordinal)).Select(e => e.Reason));
        Assert.Equal(3, later.Status.SageMaker!.TransitionsReported);
    }
}
