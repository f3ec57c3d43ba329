using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using static Ferry.Operator.Tests.Fixtures.Build;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Tests.Reconciliation;

public sealed class TrainingJobStatusCalculatorTests
{
    private static TrainingJobDecision Decide(TrainingJob job, IReadOnlyList<ReplicaObservation>? replicas = null, TimeSpan? at = null, string? invalid = null, LifecycleSettings? settings = null) =>
        TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, replicas ?? [], T0 + (at ?? TimeSpan.Zero), invalid)
        {
            Artifacts = Ferry.Operator.Storage.ArtifactLocations.For(job),
            Settings = settings ?? LifecycleSettings.Default,
        });

    /// <summary>The job as stored after the decision's status was written.</summary>
    private static TrainingJobBuilder After(TrainingJobBuilder job, TrainingJobDecision decision) => job.WithStatus(decision.Status);

    private static k8s.Models.V1Condition Condition(TrainingJobDecision decision, string type) =>
        ConditionList.Find(decision.Status.Conditions, type) ?? throw new Xunit.Sdk.XunitException($"condition {type} missing");

    [Fact]
    public void A_new_job_starts_attempt_one_with_every_replica()
    {
        var decision = Decide(Job().WithReplicas(2));

        Assert.NotNull(decision.Start);
        Assert.Equal(1, decision.Start.Attempt);
        Assert.Equal([0, 1], decision.Start.Indexes);
        Assert.Equal(TrainingJobPhase.Starting, decision.Status.Phase);
        Assert.Equal(1, decision.Status.Attempt);
        Assert.Equal("True", Condition(decision, "Created").Status);
        Assert.Equal(R.PodsCreated, Condition(decision, "Created").Reason);
        Assert.Equal("False", Condition(decision, "Running").Status);
        Assert.Null(ConditionList.Find(decision.Status.Conditions, "Complete"));
        Assert.Null(ConditionList.Find(decision.Status.Conditions, "Failed"));
        Assert.Equal(2, decision.Status.Replicas!.Active);
        Assert.Equal("s3://bucket/out/mnist/output", decision.Status.Artifacts!.Output);
        Assert.Equal([R.PodsCreated], decision.Events.Select(e => e.Reason));
        Assert.Empty(decision.Delete);
        Assert.Equal(LifecycleSettings.Default.StartupTimeout, decision.RequeueAfter); // the start-up deadline
    }

    [Fact]
    public void Status_equality_is_by_content_and_a_missing_status_is_never_equal()
    {
        var job = Job().WithReplicas(2);
        var status = Decide(job).Status;
        var sameContent = KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(status));

        Assert.True(TrainingJobReconciler.StatusEquals(sameContent, status));
        Assert.False(TrainingJobReconciler.StatusEquals(null, status));
        sameContent.Conditions![0].Message += " (changed)";
        Assert.False(TrainingJobReconciler.StatusEquals(sameContent, status));
    }

    [Fact]
    public void A_settled_starting_job_decides_the_same_status_and_no_events()
    {
        var job = Job().WithReplicas(2);
        var first = Decide(job);
        var second = Decide(After(job, first), Pods().Pending(2).Build(), TimeSpan.FromSeconds(5));
        var third = Decide(After(job, second), Pods().Pending(2).Build(), TimeSpan.FromSeconds(9));

        Assert.Null(second.Start);
        Assert.Empty(second.Events);
        Assert.True(TrainingJobReconciler.StatusEquals(second.Status, third.Status));
        Assert.Equal(Condition(first, "Running").LastTransitionTime, Condition(third, "Running").LastTransitionTime);
    }

    [Theory]
    [InlineData(2, 0, TrainingJobPhase.Starting, "False")]
    [InlineData(1, 1, TrainingJobPhase.Starting, "False")]
    [InlineData(0, 2, TrainingJobPhase.Running, "True")]
    public void The_attempt_runs_only_when_every_replica_runs(int pending, int running, TrainingJobPhase phase, string runningCondition)
    {
        var job = Job().WithReplicas(2);
        var started = After(job, Decide(job));

        var decision = Decide(started, Pods().Pending(pending).Running(running).Build(), TimeSpan.FromSeconds(30));

        Assert.Equal(phase, decision.Status.Phase);
        Assert.Equal(runningCondition, Condition(decision, "Running").Status);
        Assert.Equal(pending + running, decision.Status.Replicas!.Active);
        Assert.Equal(running > 0 ? T0.UtcDateTime : null, decision.Status.StartTime);
    }

    [Fact]
    public void Running_flips_the_condition_once_with_an_event_and_keeps_its_transition_time()
    {
        var job = Job().WithReplicas(2);
        var starting = After(job, Decide(job));
        var running = Decide(starting, Pods().Running(2).Build(), TimeSpan.FromSeconds(10));
        var stillRunning = Decide(After(starting, running), Pods().Running(2).Build(), TimeSpan.FromSeconds(70));

        Assert.Equal(["Running"], running.Events.Select(e => e.Reason));
        Assert.Empty(stillRunning.Events);
        Assert.Equal((T0 + TimeSpan.FromSeconds(10)).UtcDateTime, Condition(stillRunning, "Running").LastTransitionTime);
        Assert.True(TrainingJobReconciler.StatusEquals(running.Status, stillRunning.Status));
    }

    [Fact]
    public void All_replicas_succeeding_completes_the_job_like_a_batch_job()
    {
        var job = Job().WithReplicas(2).WithGeneration(3);
        var running = After(job, Decide(After(job, Decide(job)), Pods().Running(2).Build(), TimeSpan.FromSeconds(1)));
        var model = "s3://bucket/out/mnist/output/model.tar.gz";
        var message = new TerminationMessage(0, Metrics: [new ObservedMetric("val_accuracy", 0.91, T0)], Model: model).Serialize();

        var decision = Decide(running, Pods().Succeeded(1, message).Succeeded(1).Build(), TimeSpan.FromMinutes(3));

        Assert.Equal(TrainingJobPhase.Succeeded, decision.Status.Phase);
        var complete = Condition(decision, "Complete");
        Assert.Equal(("True", R.Succeeded, 3L), (complete.Status, complete.Reason, complete.ObservedGeneration));
        Assert.Contains(model, complete.Message, StringComparison.Ordinal);
        Assert.Equal("False", Condition(decision, "Running").Status);
        Assert.Null(ConditionList.Find(decision.Status.Conditions, "Failed"));
        Assert.Equal(["Complete", "Ready"], decision.Status.Conditions!.TakeLast(2).Select(c => c.Type));
        Assert.Equal((T0 + TimeSpan.FromMinutes(3)).UtcDateTime, decision.Status.CompletionTime);
        Assert.Equal("3m", decision.Status.Duration);
        Assert.Equal(model, decision.Status.Artifacts!.Model);
        Assert.Equal(0.91, Assert.Single(decision.Status.Metrics!).Value);
        Assert.Equal(2, decision.Status.Replicas!.Succeeded);
        Assert.Equal(3, decision.Status.ObservedGeneration);
        Assert.Equal([R.Succeeded], decision.Events.Select(e => e.Reason));
        Assert.Null(decision.Start);
    }

    [Fact]
    public void A_failed_replica_restarts_the_whole_gang_as_the_next_attempt()
    {
        var job = Job().WithReplicas(2).WithMaxRetries(2);
        var running = After(job, Decide(After(job, Decide(job)), Pods().Running(2).Build()));
        var failure = new TerminationMessage(1, "NCCL timeout").Serialize();

        var restart = Decide(running, Pods().Running(1).Failed(1, failure).Build(), TimeSpan.FromMinutes(1));

        Assert.Equal(2, restart.Status.Attempt);
        Assert.Equal(TrainingJobPhase.Pending, restart.Status.Phase);
        Assert.Equal("NCCL timeout", restart.Status.FailureReason);
        Assert.Empty(restart.Delete); // status first: the pods go in the pass after the restart is recorded
        Assert.Equal(TimeSpan.Zero, restart.RequeueAfter);
        Assert.Null(restart.Start);
        var runningCondition = Condition(restart, "Running");
        Assert.Equal(("False", R.Restarting), (runningCondition.Status, runningCondition.Reason));
        Assert.Contains("Replica 1 failed on attempt 1: NCCL timeout", runningCondition.Message, StringComparison.Ordinal);
        Assert.Contains("attempt 2 of 3", runningCondition.Message, StringComparison.Ordinal);
        Assert.Equal([(TrainingJobEvent.Warning, R.Restarting)], restart.Events.Select(e => (e.Type, e.Reason)));
        Assert.Null(ConditionList.Find(restart.Status.Conditions, "Failed"));

        // The next pass acts on what was recorded: the old attempt's pods are deleted.
        var clearing = Decide(After(job, restart), Pods().Running(1).Failed(1, failure).Build(), TimeSpan.FromMinutes(1));
        Assert.Equal(["mnist-0", "mnist-1"], clearing.Delete.Select(r => r.Name));
        Assert.Null(clearing.Start);
        Assert.Equal(2, clearing.Status.Attempt);

        // The old pods are still going away: the new attempt waits (pod names are reused).
        var waiting = Decide(After(job, restart), Pods().Terminating(2).Build(), TimeSpan.FromMinutes(1.1));
        Assert.Null(waiting.Start);
        Assert.Empty(waiting.Delete);
        Assert.Equal(R.WaitingForPreviousAttempt, Condition(waiting, "Running").Reason);

        // A replica of the old attempt that was not deleted yet is deleted, still without starting.
        var stale = Decide(After(job, restart), Pods(attempt: 1).Running(1).Build(), TimeSpan.FromMinutes(1.1));
        Assert.Null(stale.Start);
        Assert.Equal(["mnist-0"], stale.Delete.Select(r => r.Name));

        // Once they are gone, attempt 2 starts with every replica.
        var next = Decide(After(job, waiting), [], TimeSpan.FromMinutes(1.2));
        Assert.NotNull(next.Start);
        Assert.Equal(2, next.Start.Attempt);
        Assert.Equal([0, 1], next.Start.Indexes);
        Assert.Equal(TrainingJobPhase.Starting, next.Status.Phase);
    }

    [Fact]
    public void A_replica_that_vanishes_after_the_gang_started_restarts_the_attempt()
    {
        var job = Job().WithReplicas(3).WithMaxRetries(1);
        var running = After(job, Decide(After(job, Decide(job)), Pods().Running(3).Build()));
        var survivors = Pods().Running(3).Build().Where(r => r.Index != 1).ToList();

        var decision = Decide(running, survivors, TimeSpan.FromMinutes(1));

        Assert.Null(decision.Start);
        Assert.Equal(2, decision.Status.Attempt);
        Assert.Empty(decision.Delete);
        Assert.Equal(["mnist-0", "mnist-2"], Decide(After(job, decision), survivors, TimeSpan.FromMinutes(1)).Delete.Select(r => r.Name));
        Assert.Contains("Replica 1 of attempt 1 disappeared", Condition(decision, "Running").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replica_missing_before_anything_started_is_simply_created()
    {
        var job = Job().WithReplicas(2);
        var decision = Decide(After(job, Decide(job)), Pods().Pending(1).Build());

        Assert.NotNull(decision.Start);
        Assert.Equal([1], decision.Start.Indexes);
        Assert.Equal(1, decision.Status.Attempt);
    }

    [Fact]
    public void Failures_past_max_retries_fail_the_job_with_the_replicas_message()
    {
        var job = Job().WithReplicas(2).WithMaxRetries(1);
        var onAttempt2 = job.WithStatus(new TrainingJobStatus { Attempt = 2, Phase = TrainingJobPhase.Running, StartTime = T0.UtcDateTime });
        var failure = new TerminationMessage(3, "CUDA error: out of memory").Serialize();

        var decision = Decide(onAttempt2, Pods(attempt: 2).Failed(1, failure, 3).Running(1).Build(), TimeSpan.FromMinutes(10));

        Assert.Equal(TrainingJobPhase.Failed, decision.Status.Phase);
        Assert.Equal("CUDA error: out of memory", decision.Status.FailureReason);
        var failed = Condition(decision, "Failed");
        Assert.Equal(("True", R.MaxRetriesExceeded), (failed.Status, failed.Reason));
        Assert.Contains("spec.maxRetries is 1", failed.Message, StringComparison.Ordinal);
        Assert.Null(ConditionList.Find(decision.Status.Conditions, "Complete"));
        Assert.Equal(2, decision.Status.Attempt);
        Assert.Equal((T0 + TimeSpan.FromMinutes(10)).UtcDateTime, decision.Status.CompletionTime);
        Assert.Empty(decision.Delete); // status first: the end is recorded, then acted on
        var cleanUp = Decide(onAttempt2.WithStatus(decision.Status), Pods(attempt: 2).Failed(1, failure, 3).Running(1).Build(), TimeSpan.FromMinutes(10));
        Assert.Equal(["mnist-1"], cleanUp.Delete.Select(r => r.Name)); // cleanPodPolicy Running: the still-running replica
        Assert.Empty(cleanUp.Events);
        Assert.Equal([(TrainingJobEvent.Warning, R.MaxRetriesExceeded)], decision.Events.Select(e => (e.Type, e.Reason)));
    }

    [Theory]
    [InlineData(null, 137, "exited with code 137.")]
    [InlineData("Killed by the OOM killer", 137, "Killed by the OOM killer")]
    public void Without_retries_a_failure_says_what_the_replica_said(string? message, int exitCode, string expected)
    {
        var job = Job().With(j => j.Spec.MaxRetries = 0);
        var decision = Decide(After(job, Decide(job)), Pods().Failed(1, message, exitCode).Build());

        Assert.Equal(expected, decision.Status.FailureReason);
        Assert.Equal(R.ReplicaFailed, Condition(decision, "Failed").Reason);
    }

    [Fact]
    public void A_failure_reason_is_cut_to_1024_characters()
    {
        var job = Job();
        var decision = Decide(After(job, Decide(job)), Pods().Failed(1, new string('x', 5000)).Build());
        Assert.Equal(1024, decision.Status.FailureReason!.Length);
    }

    [Fact]
    public void Suspend_deletes_the_replicas_and_resume_recreates_them_in_the_same_attempt()
    {
        var job = Job().WithReplicas(2).WithMaxRetries(0);
        var running = Decide(After(job, Decide(job)), Pods().Running(2).Build());

        var suspended = Decide(After(job, running).Suspended().WithGeneration(2), Pods().Running(2).Build(), TimeSpan.FromMinutes(1));
        Assert.Equal(TrainingJobPhase.Suspended, suspended.Status.Phase);
        Assert.Empty(suspended.Delete); // recorded first
        var stopping = Decide(After(job, suspended).Suspended().WithGeneration(2), Pods().Running(2).Build(), TimeSpan.FromMinutes(1));
        Assert.Equal(["mnist-0", "mnist-1"], stopping.Delete.Select(r => r.Name));
        Assert.Empty(stopping.Events);
        Assert.Equal(("True", 2L), (Condition(suspended, "Suspended").Status, Condition(suspended, "Suspended").ObservedGeneration));
        Assert.Equal([R.Suspended], suspended.Events.Select(e => e.Reason));

        var settled = Decide(After(job, suspended).Suspended().WithGeneration(2), [], TimeSpan.FromMinutes(2));
        Assert.Empty(settled.Events);
        Assert.Null(settled.Start);
        Assert.True(TrainingJobReconciler.StatusEquals(suspended.Status, settled.Status));

        var resumed = Decide(After(job, settled).Suspended(false).WithGeneration(3), [], TimeSpan.FromMinutes(3));
        Assert.NotNull(resumed.Start);
        Assert.Equal(1, resumed.Start.Attempt);
        Assert.Equal([0, 1], resumed.Start.Indexes);
        Assert.Equal(("False", R.Resumed), (Condition(resumed, "Suspended").Status, Condition(resumed, "Suspended").Reason));
        Assert.Equal((T0 + TimeSpan.FromMinutes(3)).UtcDateTime, Condition(resumed, "Suspended").LastTransitionTime);
        Assert.Contains(R.Resumed, resumed.Events.Select(e => e.Reason));
        Assert.Equal(TrainingJobPhase.Starting, resumed.Status.Phase);
    }

    [Fact]
    public void Max_runtime_requeues_until_the_deadline_then_fails_and_stops_the_replicas()
    {
        var job = Job().WithReplicas(2).WithMaxRuntime(600);
        var running = Decide(After(job, Decide(job)), Pods().Running(2).Build());

        var before = Decide(After(job, running), Pods().Running(2).Build(), TimeSpan.FromSeconds(450));
        Assert.Equal(TimeSpan.FromSeconds(150), before.RequeueAfter);
        Assert.Equal(TrainingJobPhase.Running, before.Status.Phase);

        var after = Decide(After(job, running), Pods().Running(2).Build(), TimeSpan.FromSeconds(600));
        Assert.Equal(TrainingJobPhase.Failed, after.Status.Phase);
        Assert.Equal(R.MaxRuntimeExceeded, Condition(after, "Failed").Reason);
        Assert.Contains("maxRuntimeSeconds (600s)", after.Status.FailureReason, StringComparison.Ordinal);
        Assert.Empty(after.Delete);
        var stopped = Decide(After(job, after), Pods().Running(2).Build(), TimeSpan.FromSeconds(601));
        Assert.Equal(["mnist-0", "mnist-1"], stopped.Delete.Select(r => r.Name));
        Assert.Equal("10m", after.Status.Duration);
    }

    [Fact]
    public void Spot_max_wait_counts_from_creation_and_includes_waiting_for_capacity()
    {
        var job = Job().WithReplicas(1).With(j =>
        {
            j.Spec.Spot = true;
            j.Spec.StoppingCondition = new StoppingCondition { MaxRuntimeSeconds = 600, MaxWaitSeconds = 900 };
            j.Metadata.CreationTimestamp = T0.UtcDateTime;
        });
        var patient = LifecycleSettings.Default with { StartupTimeout = TimeSpan.FromHours(1) };
        var starting = Decide(job, settings: patient);

        var pending = Decide(After(job, starting), Pods().Pending(1).Build(), TimeSpan.FromSeconds(300), settings: patient);
        Assert.Equal(TimeSpan.FromSeconds(600), pending.RequeueAfter);

        var expired = Decide(After(job, starting), Pods().Pending(1).Build(), TimeSpan.FromSeconds(900), settings: patient);
        Assert.Equal(TrainingJobPhase.Failed, expired.Status.Phase);
        Assert.Equal(R.MaxWaitExceeded, Condition(expired, "Failed").Reason);
        Assert.Contains("maxWaitSeconds (900s)", expired.Status.FailureReason, StringComparison.Ordinal);
        Assert.Equal(["mnist-0"], Decide(After(job, expired), Pods().Pending(1).Build(), TimeSpan.FromSeconds(901), settings: patient).Delete.Select(r => r.Name));
    }

    [Fact]
    public void Ttl_requeues_until_expiry_then_deletes_the_job()
    {
        var job = Job().WithTtl(60);
        var done = Decide(After(job, Decide(job)), Pods().Succeeded(1).Build());
        Assert.Equal(TimeSpan.Zero, done.RequeueAfter); // a pass to apply the clean-up policy
        Assert.Equal(TimeSpan.FromSeconds(60), Decide(After(job, done), Pods().Succeeded(1).Build()).RequeueAfter);

        var waiting = Decide(After(job, done), Pods().Succeeded(1).Build(), TimeSpan.FromSeconds(45));
        Assert.Equal(TimeSpan.FromSeconds(15), waiting.RequeueAfter);
        Assert.False(waiting.DeleteJob);

        var expired = Decide(After(job, done), Pods().Succeeded(1).Build(), TimeSpan.FromSeconds(60));
        Assert.True(expired.DeleteJob);
        Assert.True(TrainingJobReconciler.StatusEquals(done.Status, expired.Status));
    }

    [Theory]
    [InlineData(CleanPodPolicy.None, "")]
    [InlineData(CleanPodPolicy.Running, "mnist-1")]
    [InlineData(CleanPodPolicy.All, "mnist-0,mnist-1,mnist-2")]
    public void Clean_pod_policy_decides_which_pods_of_a_finished_job_remain(CleanPodPolicy policy, string deleted)
    {
        var job = Job().WithReplicas(3).WithCleanPodPolicy(policy)
            .WithStatus(new TrainingJobStatus { Phase = TrainingJobPhase.Failed, Attempt = 1, CompletionTime = T0.UtcDateTime });

        var decision = Decide(job, Pods().Failed(1).Running(1).Succeeded(1).Build(), TimeSpan.FromSeconds(1));

        Assert.Equal(deleted, string.Join(',', decision.Delete.Select(r => r.Name)));
        Assert.Null(decision.Start);
        Assert.Empty(decision.Events);
    }

    [Fact]
    public void An_invalid_spec_fails_once_with_the_message_and_then_stays_settled()
    {
        var job = Job();
        const string Problem = "spec.backend is SageMaker, but this operator runs without SageMaker support.";
        var decision = Decide(job, invalid: Problem);

        Assert.Equal(TrainingJobPhase.Failed, decision.Status.Phase);
        Assert.Equal((R.InvalidSpec, Problem), (Condition(decision, "Failed").Reason, Condition(decision, "Failed").Message));
        Assert.Equal(Problem, decision.Status.FailureReason);
        Assert.Null(decision.Start);
        Assert.Null(decision.RequeueAfter);
        Assert.Equal([(TrainingJobEvent.Warning, R.InvalidSpec)], decision.Events.Select(e => (e.Type, e.Reason)));

        var again = Decide(After(job, decision), invalid: Problem, at: TimeSpan.FromMinutes(5));
        Assert.True(TrainingJobReconciler.StatusEquals(decision.Status, again.Status));
        Assert.Empty(again.Events);
        Assert.Null(again.RequeueAfter);
    }

    [Fact]
    public void Every_condition_carries_the_observed_generation_and_the_list_is_newest_last()
    {
        var job = Job().WithReplicas(1).WithGeneration(7);
        var created = Decide(job);
        var running = Decide(After(job, created), Pods().Running(1).Build(), TimeSpan.FromSeconds(5));

        Assert.All(running.Status.Conditions!, c => Assert.Equal(7, c.ObservedGeneration));
        Assert.Equal(["Created", "Ready", "Reconciling", "Running"], running.Status.Conditions!.Select(c => c.Type));
        Assert.Equal(7, running.Status.ObservedGeneration);
    }
}
