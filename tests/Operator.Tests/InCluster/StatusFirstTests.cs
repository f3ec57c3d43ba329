using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator.Faults;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Agent;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>
/// Every transition is recorded before it is acted on. The emulator refuses the TrainingJob's status writes right
/// when a transition is decided (a 500, as a lost leader or an API-server hiccup would): the attempt count, the
/// failure reason and the end of the job survive, and no attempt runs twice.
/// </summary>
public sealed class StatusFirstTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static string Failure(string reason) => new TerminationMessage(1, reason).Serialize();

    [Fact]
    public async Task A_refused_status_write_after_a_replica_failure_never_reruns_the_failed_attempt()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (index, attempt) =>
            attempt == 1 && index == 1 ? (TimeSpan.FromMinutes(1), new ContainerOutcome(1, Failure("NCCL watchdog timeout")))
            : attempt == 1 ? (null, new ContainerOutcome(0))
            : (TimeSpan.FromMinutes(2), new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("flaky-write").WithReplicas(2).WithMaxRetries(1));
        await harness.ReconcileUntilAsync("flaky-write", (job, _) => job?.Status?.Phase == TrainingJobPhase.Running);

        await RunKubeletUntilAsync(harness, "flaky-write", pod => pod.Status?.Phase == "Failed");
        await ReconcileWithStatusWritesRefusedAsync(harness, "flaky-write");

        var done = await harness.ReconcileUntilAsync("flaky-write", (job, _) => job?.Status?.Phase == TrainingJobPhase.Succeeded, Step);
        Assert.Equal(2, done!.Status!.Attempt);
        Assert.Equal(1, done.Status.Retries);
        Assert.Equal(4, PodCreates(harness)); // two per attempt: attempt 1 never ran again
    }

    [Fact]
    public async Task A_refused_status_write_after_success_with_clean_pod_policy_all_never_runs_the_job_again()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (TimeSpan.FromMinutes(1), new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("done-once").WithReplicas(2).WithCleanPodPolicy(CleanPodPolicy.All));
        await harness.ReconcileUntilAsync("done-once", (job, _) => job?.Status?.Phase == TrainingJobPhase.Running);

        await RunKubeletUntilAsync(harness, "done-once", pod => pod.Status?.Phase == "Succeeded", all: true);
        await ReconcileWithStatusWritesRefusedAsync(harness, "done-once");

        var done = await harness.ReconcileUntilAsync("done-once", (job, pods) => job?.Status?.Phase == TrainingJobPhase.Succeeded && pods.Count == 0, Step);
        for (var i = 0; i < 3; i++)
        {
            await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "done-once", CancellationToken.None);
        }

        Assert.Equal(TrainingJobPhase.Succeeded, (await harness.GetAsync("done-once"))!.Status!.Phase);
        Assert.Equal(1, done!.Status!.Attempt);
        Assert.Equal(2, PodCreates(harness));
    }

    [Fact]
    public async Task A_refused_status_write_after_the_last_failure_keeps_the_reason_and_the_job_failed()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (index, _) =>
            index == 0 ? (TimeSpan.FromMinutes(1), new ContainerOutcome(3, Failure("CUDA error: out of memory"))) : (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("oom").WithReplicas(2).WithMaxRetries(0).WithCleanPodPolicy(CleanPodPolicy.All));
        await harness.ReconcileUntilAsync("oom", (job, _) => job?.Status?.Phase == TrainingJobPhase.Running);

        await RunKubeletUntilAsync(harness, "oom", pod => pod.Status?.Phase == "Failed");
        await ReconcileWithStatusWritesRefusedAsync(harness, "oom");

        var failed = await harness.ReconcileUntilAsync("oom", (job, pods) => job?.Status?.Phase == TrainingJobPhase.Failed && pods.Count == 0, Step);
        Assert.Equal("CUDA error: out of memory", failed!.Status!.FailureReason);
        Assert.Equal(1, failed.Status.Attempt);
        Assert.Equal(2, PodCreates(harness));
    }

    private static int PodCreates(OperatorHarness harness) =>
        harness.Api.RequestLog.Count(e => e.Verb == "create" && e.Resource == "pods" && e.StatusCode < 300);

    /// <summary>Advances the fake clock (the kubelet runs the scripted containers) until the operator's pod cache shows the change.</summary>
    private static async Task RunKubeletUntilAsync(OperatorHarness harness, string job, Func<V1Pod, bool> changed, bool all = false)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var pods = harness.PodInformer.Cache.List(OperatorHarness.Namespace, $"{TrainingJobLabels.JobName}={job}");
            if (pods.Count > 0 && (all ? pods.All(changed) : pods.Any(changed)))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"The pods of {job} did not change as expected.");
            harness.Time.Advance(Step);
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Three passes while the TrainingJob's status writes answer 500 twice: what the controller does when a write fails
    /// (the error ends the pass, the key is retried).
    /// </summary>
    private static async Task ReconcileWithStatusWritesRefusedAsync(OperatorHarness harness, string job)
    {
        var rule = harness.Api.Faults.Add(new FaultRule { Verb = "update", Resource = "trainingjobs", Subresource = "status", StatusCode = 500, Times = 2 });
        var refused = 0;
        for (var pass = 0; pass < 3; pass++)
        {
            try
            {
                await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, job, CancellationToken.None);
            }
            catch (KubernetesApiException e) when ((int)e.StatusCode == 500)
            {
                refused++;
            }

            await Task.Delay(50); // let the informers deliver what the pass changed, as between a controller's retries
        }

        harness.Api.Faults.Remove(rule);
        Assert.Equal(2, refused);
    }
}
