using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.Operator.Hosting;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>The `ferry operator` host (informers, work queue, owned-pod watches) runs the TrainingJob controller against the emulator.</summary>
public sealed class OperatorHostEndToEndTests
{
    [Fact]
    public async Task The_host_reconciles_a_job_to_complete_driven_by_watches_alone()
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [OperatorHarness.CrdPath] });
        api.Kubelet.Script.When("hosted-*", TimeSpan.FromSeconds(1), 0, containerName: "train");
        api.Kubelet.Start();
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        var jobs = new KubernetesResourceClient<TrainingJob>(client);
        var app = OperatorHost.Build(
            HostedOperator.Settings(api.KubeconfigPath),
            setups: [new TrainingJobControllerSetup()]);
        await app.StartAsync();
        try
        {
            var job = Job("hosted").WithReplicas(2).Build();
            job.Metadata = new V1ObjectMeta { Name = "hosted", NamespaceProperty = "default" };
            await jobs.CreateAsync(job);

            var current = await HostedOperator.WaitForPhaseAsync(jobs, "default", "hosted", TrainingJobPhase.Succeeded);

            Assert.Equal("True", ConditionList.Find(current!.Status!.Conditions, "Complete")!.Status);
            Assert.Equal(1, current.Status.Attempt);
            var pods = await new KubernetesResourceClient<V1Pod>(client).ListAsync("default", "ferry.dev/job-name=hosted");
            Assert.Equal(2, pods.Items.Count);
            Assert.All(pods.Items, p => Assert.Equal("registry.local/ferry:test", p.Spec.InitContainers.Single().Image));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
