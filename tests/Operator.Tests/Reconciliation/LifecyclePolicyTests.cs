using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Tests.Fixtures;
using static Ferry.Operator.Tests.Fixtures.Build;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Tests.Reconciliation;

/// <summary>Table tests of the lifecycle policies: backoff, disruptions, start-up, suspend and deadlines, kstatus, remote jobs.</summary>
public sealed class LifecyclePolicyTests
{
    private static TrainingJobDecision Decide(TrainingJob job, IReadOnlyList<ReplicaObservation>? replicas = null, TimeSpan? at = null,
        LifecycleSettings? settings = null, string? startBlocked = null, BackendTraits? traits = null, IReadOnlyList<RemoteJobObservation>? remote = null) =>
        TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, replicas ?? [], T0 + (at ?? TimeSpan.Zero))
        {
            Settings = settings ?? LifecycleSettings.Default,
            StartBlocked = startBlocked,
            Traits = traits ?? BackendTraits.Replicas,
            RemoteJobs = remote ?? [],
        });

    private static TrainingJobBuilder After(TrainingJobBuilder job, TrainingJobDecision decision) => job.WithStatus(decision.Status);

    private static k8s.Models.V1Condition? Condition(TrainingJobDecision decision, string type) => ConditionList.Find(decision.Status.Conditions, type);

    [Theory]
    [InlineData(1, 10)]
    [InlineData(2, 20)]
    [InlineData(3, 40)]
    [InlineData(6, 300)] // capped at 5 minutes
    [InlineData(20, 300)]
    public void Restart_backoff_doubles_from_ten_seconds_up_to_five_minutes(int failures, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), LifecycleSettings.Default.BackoffAfter(failures));

    [Fact]
    public void A_failure_waits_out_the_backoff_before_the_next_attempt_and_says_so()
    {
        var job = Job().WithReplicas(2).WithMaxRetries(3);
        var running = After(job, Decide(After(job, Decide(job)), Pods().Running(2).Build()));
        var restart = Decide(running, Pods().Failed(1, "boom").Running(1).Build(), TimeSpan.FromMinutes(1));
        Assert.Equal((T0 + TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(10)).UtcDateTime, restart.Status.NextAttemptTime);
        Assert.Contains("in 10s", Condition(restart, "Running")!.Message, StringComparison.Ordinal);

        // The old pods are gone; the backoff has 4 s left: nothing starts, the pass asks to come back then.
        var waiting = Decide(After(job, restart), [], TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(6));
        Assert.Null(waiting.Start);
        Assert.Equal(R.RestartBackoff, Condition(waiting, "Running")!.Reason);
        Assert.Equal(TimeSpan.FromSeconds(4), waiting.RequeueAfter);

        var started = Decide(After(job, waiting), [], TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(10));
        Assert.Equal((2, "0,1", true), (started.Start!.Attempt, string.Join(',', started.Start.Indexes), started.Start.NewAttempt));
        Assert.Null(started.Status.NextAttemptTime);
    }

    [Fact]
    public void A_disruption_restarts_without_using_up_a_retry_until_the_cap()
    {
        var settings = LifecycleSettings.Default with { MaxDisruptions = 1 };
        var job = Job().WithReplicas(2).WithMaxRetries(0);
        var running = After(job, Decide(After(job, Decide(job)), Pods().Running(2).Build(), settings: settings));
        var evicted = Pods().Running(2).Build().Select(r => r.Index == 1
            ? r with { State = ReplicaState.Failed, Disruption = "EvictionByEvictionAPI: Eviction API: evicting" }
            : r).ToList();

        var disrupted = Decide(running, evicted, TimeSpan.FromMinutes(1), settings);
        Assert.Equal(TrainingJobPhase.Pending, disrupted.Status.Phase);
        Assert.Equal((2, 1, (int?)null), (disrupted.Status.Attempt!.Value, disrupted.Status.Disruptions!.Value, disrupted.Status.Retries));
        Assert.Equal(R.Disrupted, Condition(disrupted, "Running")!.Reason);
        Assert.Null(disrupted.Status.NextAttemptTime); // no backoff: the capacity problem is the scheduler's

        // The second disruption is past the cap: it counts as a failure, and with no retries left the job fails.
        var onAttempt2 = job.WithStatus(disrupted.Status);
        var again = evicted.Select(r => r with { Attempt = 2 }).ToList();
        var failed = Decide(onAttempt2, again, TimeSpan.FromMinutes(5), settings);
        Assert.Equal(TrainingJobPhase.Failed, failed.Status.Phase);
        Assert.Equal(R.ReplicaFailed, Condition(failed, "Failed")!.Reason);
    }

    [Fact]
    public void A_replica_deleted_by_someone_else_while_the_gang_runs_fails_the_attempt_with_its_disruption()
    {
        var job = Job().WithReplicas(2).WithMaxRetries(0);
        var running = After(job, Decide(After(job, Decide(job)), Pods().Running(2).Build()));
        var preempted = Pods().Running(2).Build().Select(r => r.Index == 0
            ? r with { Terminating = true, Disruption = "PreemptionByScheduler: preempted by a higher-priority pod" }
            : r).ToList();

        var decision = Decide(running, preempted, TimeSpan.FromMinutes(1));
        Assert.Equal(2, decision.Status.Attempt);
        Assert.Equal(1, decision.Status.Disruptions);
        Assert.Contains("PreemptionByScheduler", Condition(decision, "Running")!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_blocked_replica_is_shown_with_the_fix_and_fails_the_attempt_at_the_start_up_deadline()
    {
        var settings = LifecycleSettings.Default with { StartupTimeout = TimeSpan.FromMinutes(5) };
        var job = Job().WithReplicas(2).WithMaxRetries(1);
        var created = Decide(job, settings: settings);
        Assert.Equal(T0.UtcDateTime, created.Status.AttemptStartTime);
        var pulling = Pods().Pending(2).Build().Select(r => r.Index == 1
            ? r with { Blocked = "ImagePullBackOff: Back-off pulling image \"ferry-trainr:0.1\" (check spec.image (name, tag, registry) and spec.inCluster.imagePullSecrets)." }
            : r).ToList();

        var blocked = Decide(After(job, created), pulling, TimeSpan.FromMinutes(1), settings);
        var running = Condition(blocked, "Running")!;
        Assert.Equal((TrainingJobPhase.Starting, R.StartupBlocked), (blocked.Status.Phase!.Value, running.Reason));
        Assert.Contains("replica 1 (mnist-1): ImagePullBackOff", running.Message, StringComparison.Ordinal);
        Assert.Contains("spec.inCluster.imagePullSecrets", running.Message, StringComparison.Ordinal);
        Assert.Equal([(TrainingJobEvent.Warning, R.StartupBlocked)], blocked.Events.Select(e => (e.Type, e.Reason)));
        Assert.Equal(TimeSpan.FromMinutes(4), blocked.RequeueAfter);

        // Still blocked, same message: no second event.
        Assert.Empty(Decide(After(job, blocked), pulling, TimeSpan.FromMinutes(2), settings).Events);

        var expired = Decide(After(job, blocked), pulling, TimeSpan.FromMinutes(5), settings);
        Assert.Equal(2, expired.Status.Attempt);
        Assert.Contains("did not start within 5m", expired.Status.FailureReason, StringComparison.Ordinal);
        Assert.Contains("ImagePullBackOff", expired.Status.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_backend_refusal_to_create_is_shown_and_bounded_by_the_start_up_deadline()
    {
        var job = Job().WithReplicas(1).WithMaxRetries(0);
        var created = Decide(job);
        var quota = "pods \"mnist-0\" is forbidden: exceeded quota: gpu-quota. Free the namespace's quota.";

        var blocked = Decide(After(job, created), [], TimeSpan.FromSeconds(30), startBlocked: quota);
        Assert.Contains(quota, Condition(blocked, "Running")!.Message, StringComparison.Ordinal);

        var expired = Decide(After(job, blocked), [], TimeSpan.FromMinutes(10), startBlocked: quota);
        Assert.Equal(TrainingJobPhase.Failed, expired.Status.Phase);
        Assert.Contains("exceeded quota", expired.Status.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Suspended_time_never_counts_towards_max_runtime()
    {
        var job = Job().WithReplicas(1).WithMaxRuntime(600);
        var running = Decide(After(job, Decide(job)), Pods().Running(1).Build(), TimeSpan.FromSeconds(10));
        Assert.Equal(T0.UtcDateTime, running.Status.StartTime);

        var suspended = Decide(After(job, running).Suspended(), Pods().Running(1).Build(), TimeSpan.FromSeconds(300));
        Assert.Null(suspended.Status.StartTime);
        var settled = Decide(After(job, suspended).Suspended(), [], TimeSpan.FromHours(2));

        // Two hours later the job resumes: its runtime starts again when its replica runs.
        var resumed = Decide(After(job, settled).Suspended(false), [], TimeSpan.FromHours(2));
        Assert.NotNull(resumed.Start);
        var rerunning = Pods().Running(1).Build().Select(r => r with { StartedAt = (T0 + TimeSpan.FromHours(2)).UtcDateTime }).ToList();
        var again = Decide(After(job, resumed), rerunning, TimeSpan.FromHours(2) + TimeSpan.FromSeconds(30));
        Assert.Equal(TrainingJobPhase.Running, again.Status.Phase);
        Assert.Equal(TimeSpan.FromSeconds(570), again.RequeueAfter);
    }

    [Theory]
    [InlineData(null, "starts again from the beginning, because spec.checkpoint is not set")]
    [InlineData("s3://bucket/ckpt", "resumes from the last checkpoint in s3://bucket/ckpt")]
    public void Resuming_says_what_really_happens(string? checkpoint, string expected)
    {
        var job = Job().With(j => j.Spec.Checkpoint = checkpoint is null ? null : new CheckpointSpec { Uri = checkpoint });
        var suspended = Decide(After(job, Decide(job)).Suspended());
        var resumed = Decide(After(job, suspended).Suspended(false), []);
        Assert.Contains(expected, Condition(resumed, "Suspended")!.Message, StringComparison.Ordinal);
        Assert.Contains(expected, Condition(suspended, "Suspended")!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kstatus_conditions_follow_the_phase_with_abnormal_true_polarity()
    {
        var job = Job().WithReplicas(1).WithMaxRetries(0);
        var starting = Decide(job);
        AssertKstatus(starting, ready: "False", reconciling: true, stalled: false);

        var running = Decide(After(job, starting), Pods().Running(1).Build());
        AssertKstatus(running, ready: "False", reconciling: true, stalled: false);

        var succeeded = Decide(After(job, running), Pods().Succeeded(1).Build());
        AssertKstatus(succeeded, ready: "True", reconciling: false, stalled: false);

        var failed = Decide(After(job, running), Pods().Failed(1, "boom").Build());
        AssertKstatus(failed, ready: "False", reconciling: false, stalled: true);
        Assert.Equal(R.ReplicaFailed, Condition(failed, "Stalled")!.Reason);

        var suspended = Decide(After(job, running).Suspended(), Pods().Running(1).Build());
        job.Suspended(false);
        AssertKstatus(suspended, ready: "False", reconciling: false, stalled: false);

        Assert.All(failed.Status.Conditions!, c => Assert.Equal(1, c.ObservedGeneration));
    }

    private static void AssertKstatus(TrainingJobDecision decision, string ready, bool reconciling, bool stalled)
    {
        Assert.Equal(ready, Condition(decision, "Ready")?.Status);
        Assert.Equal(reconciling ? "True" : null, Condition(decision, "Reconciling")?.Status);
        Assert.Equal(stalled ? "True" : null, Condition(decision, "Stalled")?.Status);
    }

    [Fact]
    public void A_remote_job_backend_runs_one_job_per_attempt_and_never_waits_for_an_old_one()
    {
        var traits = new BackendTraits(RemoteJob: true, EnforcedDeadlines.MaxRuntime | EnforcedDeadlines.MaxWait);
        var job = Job().WithReplicas(2).WithMaxRetries(1).WithMaxRuntime(60);
        var created = Decide(job, traits: traits);
        Assert.Equal((1, "0", true), (created.Start!.Attempt, string.Join(',', created.Start.Indexes), created.Start.NewAttempt));

        var training = new RemoteJobObservation("mnist-a1", 1, ReplicaState.Running, StartedAt: T0.UtcDateTime,
            Details: new SageMakerStatus { JobName = "mnist-a1", Status = "InProgress", SecondaryStatus = "Training" });
        var running = Decide(After(job, created), traits: traits, remote: [training], at: TimeSpan.FromMinutes(5));
        Assert.Equal(TrainingJobPhase.Running, running.Status.Phase); // maxRuntime is the backend's to enforce
        Assert.Equal("Training", running.Status.SageMaker!.SecondaryStatus);

        var failedJob = training with { State = ReplicaState.Failed, FailureReason = "AlgorithmError: loss is NaN" };
        var restart = Decide(After(job, running), traits: traits, remote: [failedJob], at: TimeSpan.FromMinutes(6));
        Assert.Equal((2, "AlgorithmError: loss is NaN"), (restart.Status.Attempt!.Value, restart.Status.FailureReason));
        Assert.Empty(restart.Delete);

        var next = Decide(After(job, restart), traits: traits, remote: [failedJob], at: TimeSpan.FromMinutes(7));
        Assert.Equal(2, next.Start!.Attempt); // the failed job of attempt 1 stays as it is: a new name, no wait

        var done = Decide(After(job, next), traits: traits, remote: [failedJob, new RemoteJobObservation("mnist-a2", 2, ReplicaState.Succeeded, ModelUri: "s3://b/o/model.tar.gz")], at: TimeSpan.FromMinutes(9));
        Assert.Equal(TrainingJobPhase.Succeeded, done.Status.Phase);
        Assert.Equal("s3://b/o/model.tar.gz", done.Status.Artifacts!.Model);
    }
}
