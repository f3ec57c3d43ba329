using System.Diagnostics;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.Operator.Hosting;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Operate;

/// <summary>`kubectl describe tj` against the emulator, after the operator host ran a job: conditions, attempt and events in order.</summary>
public sealed class KubectlDescribeTests
{
    [Fact]
    public async Task Describe_tells_the_story_of_a_finished_job()
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [OperatorHarness.CrdPath] });
        api.Kubelet.Script.When("story-*", TimeSpan.FromSeconds(1), 0, containerName: "train");
        api.Kubelet.Start();
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        var jobs = new KubernetesResourceClient<TrainingJob>(client);
        var app = OperatorHost.Build(
            HostedOperator.Settings(api.KubeconfigPath),
            setups: [new TrainingJobControllerSetup()]);
        await app.StartAsync();
        try
        {
            var job = Job("story").WithReplicas(2).Build();
            job.Metadata = new V1ObjectMeta { Name = "story", NamespaceProperty = "default" };
            await jobs.CreateAsync(job);
            await HostedOperator.WaitForPhaseAsync(jobs, "default", "story", TrainingJobPhase.Succeeded);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        var describe = Process.Start(new ProcessStartInfo("kubectl", ["--kubeconfig", api.KubeconfigPath, "describe", "tj", "story", "-n", "default"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await describe.StandardOutput.ReadToEndAsync();
        var error = await describe.StandardError.ReadToEndAsync();
        await describe.WaitForExitAsync();
        Assert.True(describe.ExitCode == 0, error);

        Assert.Contains("Phase:", output, StringComparison.Ordinal);
        Assert.Contains("Succeeded", output, StringComparison.Ordinal);
        Assert.Contains("Conditions:", output, StringComparison.Ordinal);
        Assert.Contains("Type:                  Complete", output.Replace("\r", ""), StringComparison.Ordinal);
        Assert.Contains("Attempt:", output, StringComparison.Ordinal);
        var events = output[output.IndexOf("Events:", StringComparison.Ordinal)..];
        var created = events.IndexOf("PodsCreated", StringComparison.Ordinal);
        var running = events.IndexOf("Running", StringComparison.Ordinal);
        var succeeded = events.IndexOf("Succeeded", StringComparison.Ordinal);
        Assert.True(created >= 0 && running > created && succeeded > running, output);
    }
}
