using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Agent;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Tests.Fixtures;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>Reconciler + InCluster backend + the Kubernetes API emulator and its simulated kubelet.</summary>
public sealed class InClusterIntegrationTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static string Success(double accuracy) =>
        new TerminationMessage(0, Metrics: [new ObservedMetric("val_accuracy", accuracy, T0)], Model: "s3://bucket/out/job/output/model.tar.gz").Serialize();

    private static string Failure(string reason) => new TerminationMessage(1, reason).Serialize();

    private static bool Phase(TrainingJob? job, TrainingJobPhase phase) => job?.Status?.Phase == phase;

    [Fact]
    public async Task A_job_runs_its_pods_to_completion_and_then_settles_with_zero_writes()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (index, _) => (TimeSpan.FromMinutes(5), new ContainerOutcome(0, index == 0 ? Success(0.9) : null)));
        await harness.ApplyAsync(Job("happy").WithReplicas(2).With(j => j.Spec.HyperParameters = new Dictionary<string, string> { ["epochs"] = "2" }));

        var running = await harness.ReconcileUntilAsync("happy", (job, pods) => Phase(job, TrainingJobPhase.Running));

        var pods = await harness.PodsOfAsync("happy");
        Assert.Equal(["happy-0", "happy-1"], pods.Select(p => p.Metadata.Name).Order(StringComparer.Ordinal));
        var env = pods.Single(p => p.Metadata.Name == "happy-1").Spec.Containers.Single().Env.ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal(("algo-2", "1", "2", "2"), (env["SM_CURRENT_HOST"], env["RANK"], env["WORLD_SIZE"], env["SM_HP_EPOCHS"]));
        Assert.Equal("True", ConditionList.Find(running!.Status!.Conditions, "Running")!.Status);
        Assert.NotNull(await harness.Services.GetAsync(OperatorHarness.Namespace, "happy"));
        // Owner references let garbage collection remove the pods and the Service: no finalizer holds the deletion.
        Assert.True(running.Metadata.Finalizers is null || !running.Metadata.Finalizers.Contains(TrainingJobLabels.Finalizer));

        var done = await harness.ReconcileUntilAsync("happy", (job, _) => Phase(job, TrainingJobPhase.Succeeded), Step);
        // The operator decided all of this from pods cached without their spec.
        Assert.All(harness.PodInformer.Cache.List(), pod => Assert.Null(pod.Spec));

        var complete = ConditionList.Find(done!.Status!.Conditions, "Complete")!;
        Assert.Equal(("True", done.Metadata.Generation), (complete.Status, complete.ObservedGeneration));
        Assert.Equal("s3://bucket/out/job/output/model.tar.gz", done.Status.Artifacts!.Model);
        Assert.Equal(0.9, Assert.Single(done.Status.Metrics!).Value);
        Assert.Equal(2, done.Status.Replicas!.Succeeded);
        Assert.Equal(["PodsCreated", "Running", "Succeeded"], await harness.EventReasonsAsync("happy"));

        var mark = harness.Api.RequestLog.Mark();
        for (var i = 0; i < 3; i++)
        {
            Assert.IsType<ReconcileResult.DoneResult>(await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "happy", CancellationToken.None));
        }

        Assert.Equal(0, harness.Api.RequestLog.WritesSince(mark));
    }

    [Fact]
    public async Task A_failed_replica_restarts_the_gang_and_the_second_attempt_completes()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (index, attempt) =>
            attempt == 1 && index == 1
                ? (TimeSpan.FromMinutes(1), new ContainerOutcome(1, Failure("NCCL watchdog timeout")))
                : attempt == 1 ? (null, new ContainerOutcome(0)) : (TimeSpan.FromMinutes(2), new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("retry").WithReplicas(2).WithMaxRetries(2));

        var done = await harness.ReconcileUntilAsync("retry", (job, _) => Phase(job, TrainingJobPhase.Succeeded), Step);

        Assert.Equal(2, done!.Status!.Attempt);
        var pods = await harness.PodsOfAsync("retry");
        Assert.All(pods, p => Assert.Equal("2", p.Metadata.Labels[TrainingJobLabels.Attempt]));
        var reasons = await harness.EventReasonsAsync("retry");
        Assert.Contains("Restarting", reasons);
        Assert.Equal("Succeeded", reasons[^1]);
    }

    [Fact]
    public async Task Failures_past_max_retries_fail_the_job_with_the_replicas_message()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (index, attempt) =>
            index == 0 ? (TimeSpan.FromMinutes(1), new ContainerOutcome(2, Failure($"loss is NaN at step {attempt * 100}"))) : (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("doomed").WithReplicas(2).WithMaxRetries(1));

        var failed = await harness.ReconcileUntilAsync("doomed", (job, _) => Phase(job, TrainingJobPhase.Failed), Step);

        Assert.Equal(2, failed!.Status!.Attempt);
        Assert.Equal("loss is NaN at step 200", failed.Status.FailureReason);
        var condition = ConditionList.Find(failed.Status.Conditions, "Failed")!;
        Assert.Equal(("True", "MaxRetriesExceeded"), (condition.Status, condition.Reason));
        // cleanPodPolicy Running (the default): the replica still running was deleted, the failed one kept for its logs.
        var remaining = await harness.ReconcileUntilAsync("doomed", (_, pods) => pods.All(p => p.Status?.Phase is "Failed" or "Succeeded"));
        Assert.Equal(["doomed-0"], (await harness.PodsOfAsync("doomed")).Select(p => p.Metadata.Name));
        Assert.NotNull(remaining);
    }

    [Fact]
    public async Task Suspend_deletes_the_pods_and_resume_recreates_them()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("pausable").WithReplicas(2));
        await harness.ReconcileUntilAsync("pausable", (job, _) => Phase(job, TrainingJobPhase.Running));

        await harness.SetSuspendAsync("pausable", true);
        var suspended = await harness.ReconcileUntilAsync("pausable", (job, pods) => Phase(job, TrainingJobPhase.Suspended) && pods.Count == 0);
        Assert.Equal("True", ConditionList.Find(suspended!.Status!.Conditions, "Suspended")!.Status);
        Assert.Equal(suspended.Metadata.Generation, suspended.Status.ObservedGeneration);

        await harness.SetSuspendAsync("pausable", false);
        var resumed = await harness.ReconcileUntilAsync("pausable", (job, pods) => Phase(job, TrainingJobPhase.Running) && pods.Count == 2);
        Assert.Equal("False", ConditionList.Find(resumed!.Status!.Conditions, "Suspended")!.Status);
        Assert.Contains("Resumed", await harness.EventReasonsAsync("pausable"));
    }

    [Fact]
    public async Task Deleting_a_running_job_removes_its_children_through_owner_references()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("doomed-delete").WithReplicas(3));
        await harness.ReconcileUntilAsync("doomed-delete", (job, _) => Phase(job, TrainingJobPhase.Running));

        await harness.Jobs.DeleteAsync(OperatorHarness.Namespace, "doomed-delete");
        await harness.ReconcileUntilAsync("doomed-delete", (job, pods) => job is null && pods.Count == 0);

        Assert.Null(await harness.Services.GetAsync(OperatorHarness.Namespace, "doomed-delete"));
        // Reconciling a job that is gone is a no-op: the operator writes nothing (the emulator's garbage collector may
        // still be deleting the other children on its own).
        var mark = harness.Api.RequestLog.Mark();
        await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "doomed-delete", CancellationToken.None);
        var operatorUser = $"system:serviceaccount:{Helm.ChartRbac.Namespace}:{Helm.ChartRbac.ServiceAccount}";
        Assert.Contains(harness.Api.RequestLog.Entries, e => e.IsWrite && e.User == operatorUser); // it did write before
        Assert.DoesNotContain(harness.Api.RequestLog.Since(mark), e => e.IsWrite && e.User == operatorUser);
    }

    [Fact]
    public async Task A_job_still_carrying_the_cleanup_finalizer_is_cleaned_up_and_released_on_deletion()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("held").WithReplicas(2).With(j => j.Metadata.Finalizers = [TrainingJobLabels.Finalizer]));
        await harness.ReconcileUntilAsync("held", (job, _) => Phase(job, TrainingJobPhase.Running));

        await harness.Jobs.DeleteAsync(OperatorHarness.Namespace, "held");
        Assert.NotNull((await harness.GetAsync("held"))!.Metadata.DeletionTimestamp);

        await harness.ReconcileUntilAsync("held", (job, pods) => job is null && pods.Count == 0);
        Assert.Null(await harness.Services.GetAsync(OperatorHarness.Namespace, "held"));
    }

    [Fact]
    public async Task A_sagemaker_job_without_a_sagemaker_backend_fails_as_invalid_spec_once()
    {
        await using var harness = await OperatorHarness.StartAsync();
        await harness.ApplyAsync(Job("elsewhere").With(j =>
        {
            j.Spec.Backend = TrainingJobBackend.SageMaker;
            j.Spec.SageMaker = new SageMakerSpec { RoleArn = "arn:aws:iam::123456789012:role/ferry-training" };
            j.Spec.Resources!.InstanceType = "ml.g5.xlarge";
        }));

        var failed = await harness.ReconcileUntilAsync("elsewhere", (job, _) => Phase(job, TrainingJobPhase.Failed));

        var condition = ConditionList.Find(failed!.Status!.Conditions, "Failed")!;
        Assert.Equal("InvalidSpec", condition.Reason);
        Assert.Contains("spec.backend is SageMaker", condition.Message, StringComparison.Ordinal);
        Assert.Empty(await harness.PodsOfAsync("elsewhere"));
        var mark = harness.Api.RequestLog.Mark();
        var result = await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "elsewhere", CancellationToken.None);
        Assert.IsType<ReconcileResult.DoneResult>(result);
        Assert.Equal(0, harness.Api.RequestLog.WritesSince(mark));
    }

    [Fact]
    public async Task Max_runtime_stops_the_job_on_the_fake_clock()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("slow").WithReplicas(1).WithMaxRuntime(300));
        await harness.ReconcileUntilAsync("slow", (job, _) => Phase(job, TrainingJobPhase.Running));

        var result = await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "slow", CancellationToken.None);
        Assert.InRange(Assert.IsType<ReconcileResult.RequeueAfterResult>(result).Delay, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(300));

        harness.Time.Advance(TimeSpan.FromSeconds(301));
        var failed = await harness.ReconcileUntilAsync("slow", (job, pods) => Phase(job, TrainingJobPhase.Failed) && pods.Count == 0);
        Assert.Equal("MaxRuntimeExceeded", ConditionList.Find(failed!.Status!.Conditions, "Failed")!.Reason);
    }

    [Fact]
    public async Task A_finished_job_is_deleted_once_its_ttl_has_passed()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (TimeSpan.FromMinutes(1), new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("expiring").WithReplicas(1).WithTtl(600));
        await harness.ReconcileUntilAsync("expiring", (job, _) => Phase(job, TrainingJobPhase.Succeeded), Step);

        harness.Time.Advance(TimeSpan.FromSeconds(601));
        await harness.ReconcileUntilAsync("expiring", (job, _) => job is null);

        // The operator's ServiceAccount deleted it (the chart grants delete on trainingjobs).
        Assert.Contains(harness.Api.RequestLog.Entries, e => e is { Verb: "delete", Resource: "trainingjobs", Name: "expiring", StatusCode: 200 }
            && e.User == $"system:serviceaccount:{Helm.ChartRbac.Namespace}:{Helm.ChartRbac.ServiceAccount}");
    }
}
