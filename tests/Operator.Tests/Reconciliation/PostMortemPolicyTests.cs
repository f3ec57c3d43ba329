using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Reconciliation.Policies;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using Xunit.Abstractions;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Reconciliation;

/// <summary>Table tests of the post-mortem in status: who failed first and after, causes, bounds, checkpoint and resume messages.</summary>
public sealed class PostMortemPolicyTests(ITestOutputHelper output)
{
    private static TrainingJobDecision Decide(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, TimeSpan at) =>
        TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job, replicas, T0 + at) { Settings = LifecycleSettings.Default });

    private static TrainingJobBuilder Running(TrainingJobBuilder job, int replicas)
    {
        var started = Decide(job, [], TimeSpan.Zero);
        var running = Decide(job.WithStatus(started.Status), Pods().Running(replicas).Build(), TimeSpan.FromSeconds(5));
        return job.WithStatus(running.Status);
    }

    private static ReplicaObservation Replica(int index, ReplicaState state, int attempt = 1, int? exit = null, int finishedSecond = 0,
        string? tail = null, string? cause = null, bool stopped = false, CheckpointReport? checkpoint = null) =>
        new($"mnist-{index}", index, attempt, state, StartedAt: T0.UtcDateTime, ExitCode: exit)
        {
            Node = $"node-{index}",
            FinishedAt = state == ReplicaState.Failed || state == ReplicaState.Succeeded ? T0.UtcDateTime.AddSeconds(finishedSecond) : null,
            LogTail = tail,
            LogUri = state is ReplicaState.Failed or ReplicaState.Succeeded ? $"s3://b/out/mnist/attempt-{attempt}/algo-{index + 1}.log" : null,
            Cause = cause,
            StoppedByRequest = stopped,
            Checkpoint = checkpoint,
        };

    [Fact]
    public void The_replica_that_failed_first_is_named_and_the_cascade_follows_it()
    {
        var job = Running(Job().WithReplicas(3).WithMaxRetries(2), 3);
        // Rank 1 crashed first; rank 0 aborted two seconds later when the all-reduce broke; rank 2 still runs.
        var decision = Decide(job, [
            Replica(0, ReplicaState.Failed, exit: 134, finishedSecond: 12),
            Replica(1, ReplicaState.Failed, exit: 1, finishedSecond: 10, tail: "step 40\nRuntimeError: boom"),
            Replica(2, ReplicaState.Running),
        ], TimeSpan.FromSeconds(10) + LifecycleSettings.Default.FailureSettle);

        var record = Assert.Single(decision.Status.AttemptFailures!);
        Assert.Equal((1, 1, "mnist-1", "node-1", 1, (string?)null, "Error"), (record.Attempt, record.Replica, record.Pod, record.Node, record.ExitCode, record.Signal, record.Cause));
        Assert.Equal("step 40\nRuntimeError: boom", record.LogTail);
        Assert.Equal("s3://b/out/mnist/attempt-1/", record.Logs);
        var after = Assert.Single(record.FailedAfter!);
        Assert.Equal((0, 134, "SIGABRT", "node-0"), (after.Replica, after.ExitCode, after.Signal, after.Node));
        Assert.StartsWith("Replica 1 failed on attempt 1", ConditionList.Find(decision.Status.Conditions, "Running")!.Message, StringComparison.Ordinal);
        // Status first: the restart is recorded with the post-mortem, nothing is deleted in the same pass.
        Assert.Empty(decision.Delete);
    }

    [Fact]
    public void A_replica_that_fails_later_on_its_own_is_added_and_one_the_operator_stopped_is_not()
    {
        var job = Running(Job().WithReplicas(3).WithMaxRetries(2), 3);
        var first = Decide(job, [
            Replica(0, ReplicaState.Running),
            Replica(1, ReplicaState.Failed, exit: 137, finishedSecond: 10, cause: "OOMKilled"),
            Replica(2, ReplicaState.Running),
        ], TimeSpan.FromSeconds(40));
        var record = Assert.Single(first.Status.AttemptFailures!);
        Assert.Equal(("OOMKilled", "SIGKILL"), (record.Cause, record.Signal));
        Assert.Null(record.FailedAfter);

        var next = Decide(job.WithStatus(first.Status), [
            Replica(0, ReplicaState.Failed, exit: 1, finishedSecond: 41),
            Replica(1, ReplicaState.Failed, exit: 137, finishedSecond: 10, cause: "OOMKilled"),
            Replica(2, ReplicaState.Failed, exit: 143, finishedSecond: 42, stopped: true),
        ], TimeSpan.FromSeconds(45));

        var completed = Assert.Single(next.Status.AttemptFailures!);
        Assert.Equal([0], completed.FailedAfter!.Select(f => f.Replica));
    }

    [Fact]
    public void While_other_replicas_still_run_nothing_is_decided_until_the_gang_settles()
    {
        var job = Running(Job().WithReplicas(2).WithMaxRetries(2).With(j => j.Spec.Checkpoint = new CheckpointSpec { Uri = "s3://b/ckpt" }), 2);
        // Rank 1's container ended first; rank 0's agent is still syncing its last checkpoint and copying its log.
        var waiting = Decide(job, [
            Replica(0, ReplicaState.Running),
            Replica(1, ReplicaState.Failed, exit: 1, finishedSecond: 10),
        ], TimeSpan.FromSeconds(12));

        Assert.Null(waiting.Status.AttemptFailures);
        Assert.Equal((1, TrainingJobPhase.Running), (waiting.Status.Attempt, waiting.Status.Phase));
        Assert.Empty(waiting.Events);
        Assert.Empty(waiting.Delete);
        Assert.Equal(LifecycleSettings.Default.FailureSettle - TimeSpan.FromSeconds(2), waiting.RequeueAfter);
        var said = ConditionList.Find(waiting.Status.Conditions, "Running")!;
        Assert.Equal(("True", "WaitingForReplicasToEnd"), (said.Status, said.Reason));
        Assert.StartsWith("Replica 1 failed on attempt 1: exited with code 1. Waiting up to 30s for replica(s) 0 to end", said.Message, StringComparison.Ordinal);

        // Rank 0 then ends: its process had ended first (the agent's exitedAt), and it synced epoch 2 on its way out.
        var saved = new DateTimeOffset(2026, 12, 5, 12, 3, 7, TimeSpan.Zero);
        var decided = Decide(job.WithStatus(waiting.Status), [
            Replica(0, ReplicaState.Failed, exit: 1, finishedSecond: 14, checkpoint: new CheckpointReport("s3://b/ckpt/epoch-0002.ckpt", 4096, saved, Epoch: 2))
                with { ProcessEndedAt = T0.UtcDateTime.AddSeconds(8) },
            Replica(1, ReplicaState.Failed, exit: 1, finishedSecond: 10) with { ProcessEndedAt = T0.UtcDateTime.AddSeconds(9) },
        ], TimeSpan.FromSeconds(15));

        var record = Assert.Single(decided.Status.AttemptFailures!);
        Assert.Equal(0, record.Replica);
        Assert.Equal([1], record.FailedAfter!.Select(f => f.Replica));
        Assert.Equal(2, decided.Status.Attempt);
        Assert.Contains("Replica 0 failed on attempt 1", ConditionList.Find(decided.Status.Conditions, "Running")!.Message, StringComparison.Ordinal);
        Assert.Contains("from epoch 2 (s3://b/ckpt/epoch-0002.ckpt", ConditionList.Find(decided.Status.Conditions, "Running")!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replica_that_keeps_running_after_the_settle_period_does_not_hold_the_restart()
    {
        var job = Running(Job().WithReplicas(2).WithMaxRetries(2), 2);
        var replicas = new[] { Replica(0, ReplicaState.Running), Replica(1, ReplicaState.Failed, exit: 1, finishedSecond: 10) };

        Assert.Equal(1, Decide(job, replicas, TimeSpan.FromSeconds(39)).Status.Attempt);
        var decided = Decide(job, replicas, TimeSpan.FromSeconds(40));

        Assert.Equal(2, decided.Status.Attempt);
        Assert.Equal(1, Assert.Single(decided.Status.AttemptFailures!).Replica);
        // Without a settle period the operator decides at once.
        var eager = TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job.Build(), replicas, T0 + TimeSpan.FromSeconds(11))
        {
            Settings = LifecycleSettings.Default with { FailureSettle = TimeSpan.Zero },
        });
        Assert.Equal(2, eager.Status.Attempt);
    }

    [Fact]
    public void The_agent_reported_process_end_orders_replicas_not_the_container_end()
    {
        var containerEnd = T0.UtcDateTime.AddSeconds(30);
        var processEnd = new DateTimeOffset(T0.UtcDateTime.AddSeconds(21.5), TimeSpan.Zero);
        var observed = new ReplicaObservation("mnist-0", 0, 1, ReplicaState.Failed, ExitCode: 1) { FinishedAt = containerEnd }
            .WithTerminationMessage(new TerminationMessage(1, "boom") { ExitedAt = processEnd }.Serialize());
        Assert.Equal((processEnd.UtcDateTime, containerEnd), (observed.ProcessEndedAt, observed.FinishedAt));
        Assert.Equal(processEnd.UtcDateTime, observed.EndedAtForOrdering);
        var plain = new ReplicaObservation("mnist-0", 0, 1, ReplicaState.Failed, ExitCode: 1) { FinishedAt = containerEnd }
            .WithTerminationMessage(new TerminationMessage(1, "boom").Serialize());
        Assert.Equal(containerEnd, plain.EndedAtForOrdering);
    }

    [Fact]
    public void Only_the_last_three_attempts_are_kept_and_the_status_stays_small_at_the_bound()
    {
        var job = Job().WithReplicas(16).WithMaxRetries(10);
        var status = Running(job, 16).Build().Status!;
        var longTail = string.Join('\n', Enumerable.Range(0, 20).Select(i => $"{i:D2} " + new string('x', 98)));
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            var replicas = Enumerable.Range(0, 16)
                .Select(i => Replica(i, ReplicaState.Failed, attempt, exit: 1, finishedSecond: i, tail: ReplicaLog.Fit(longTail.Split('\n'), ReplicaLog.TailBytes)) with { FailureReason = new string('f', 2000) })
                .ToList();
            var pending = Decide(job.WithStatus(status), Pods(attempt).Running(16).Build(), TimeSpan.FromMinutes(attempt * 10));
            var failed = Decide(job.WithStatus(pending.Status), replicas, TimeSpan.FromMinutes(attempt * 10 + 1));
            status = failed.Status;
            status.Attempt = attempt + 1;
            status.NextAttemptTime = null;
        }

        Assert.Equal([3, 4, 5], status.AttemptFailures!.Select(f => f.Attempt));
        Assert.All(status.AttemptFailures!, f =>
        {
            Assert.Equal(AttemptFailure.FailedAfterKept, f.FailedAfter!.Count);
            Assert.Equal(1024, f.Message!.Length);
            Assert.InRange(Encoding.UTF8.GetByteCount(f.LogTail!), 1900, 2048);
        });
        var recordsBytes = Encoding.UTF8.GetByteCount(KubernetesJson.Serialize(status.AttemptFailures));
        var statusBytes = Encoding.UTF8.GetByteCount(KubernetesJson.Serialize(status));
        output.WriteLine($"attemptFailures at the bound: {recordsBytes} bytes; whole status: {statusBytes} bytes");
        Assert.InRange(recordsBytes, 9000, 14 * 1024);
        Assert.True(statusBytes < 20 * 1024, $"status is {statusBytes} bytes");
    }

    [Fact]
    public void The_newest_reported_checkpoint_is_recorded_and_the_restart_says_it_resumes_from_it()
    {
        var job = Running(Job().WithReplicas(2).WithMaxRetries(2).With(j => j.Spec.Checkpoint = new CheckpointSpec { Uri = "s3://b/ckpt" }), 2);
        var saved = new DateTimeOffset(2026, 12, 5, 12, 3, 7, TimeSpan.Zero);
        var decision = Decide(job, [
            Replica(0, ReplicaState.Failed, exit: 1, finishedSecond: 12, checkpoint: new CheckpointReport("s3://b/ckpt/epoch-0003.ckpt", 4096, saved, Epoch: 3)),
            Replica(1, ReplicaState.Failed, exit: 1, finishedSecond: 10, checkpoint: new CheckpointReport("s3://b/ckpt/epoch-0002.ckpt", 4096, saved.AddMinutes(-5), Epoch: 2)),
        ], TimeSpan.FromSeconds(20));

        var checkpoint = decision.Status.Checkpoint!;
        Assert.Equal(("s3://b/ckpt/epoch-0003.ckpt", 3, (long?)null, 4096L, 1), (checkpoint.Uri, checkpoint.Epoch, checkpoint.Step, checkpoint.Size!.Value, checkpoint.Attempt!.Value));
        Assert.Contains("Starting attempt 2 of 3 in 10s from epoch 3 (s3://b/ckpt/epoch-0003.ckpt, saved 12:03:07 UTC).",
            ConditionList.Find(decision.Status.Conditions, "Running")!.Message, StringComparison.Ordinal);

        // The next attempt's creation says it again, and an older report never replaces the newer checkpoint.
        var started = Decide(job.WithStatus(decision.Status), [Replica(1, ReplicaState.Failed, exit: 1, checkpoint: new CheckpointReport("s3://b/ckpt/epoch-0001.ckpt", 1, saved.AddHours(-1), Epoch: 1)) with { Terminating = true }], TimeSpan.FromMinutes(1));
        Assert.Equal(3, started.Status.Checkpoint!.Epoch);
        var created = Decide(job.WithStatus(started.Status), [], TimeSpan.FromMinutes(2));
        Assert.Contains("Resuming from epoch 3", ConditionList.Find(created.Status.Conditions, "Created")!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, null)]
    [InlineData(137, "SIGKILL")]
    [InlineData(139, "SIGSEGV")]
    [InlineData(143, "SIGTERM")]
    [InlineData(165, "signal 37")]
    [InlineData(255, null)]
    public void Exit_codes_above_128_name_the_signal(int exit, string? signal) => Assert.Equal(signal, PostMortemPolicy.SignalOf(exit));
}
