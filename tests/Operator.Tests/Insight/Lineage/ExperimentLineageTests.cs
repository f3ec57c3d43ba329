using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Agent;
using Ferry.Operator.Cli;
using Ferry.Operator.Cli.Insight;
using Ferry.Operator.Tests.Fixtures;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Insight.Lineage;

/// <summary>
/// InCluster through the Kubernetes API emulator (the operator as the chart's ServiceAccount): the operator labels jobs
/// with their experiment and trial, real kubectl lists an experiment's trials by label, lineage comes from rank 0's
/// termination message, and `ferry experiments` prints the trials side by side.
/// </summary>
public sealed class ExperimentLineageTests
{
    private static readonly string Sha = new('c', 64);

    /// <summary>Rank 0 of each job ends with the agent's termination message: its metrics (by trial), inputs and model digest.</summary>
    private sealed class TrialRuntime(TimeProvider time) : IPodRuntime
    {
        public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
        {
            if (isInit)
            {
                return new ContainerOutcome(0);
            }

            await Task.Delay(TimeSpan.FromSeconds(30), time, cancellationToken);
            var name = (string)pod["metadata"]!["name"]!;
            if (!name.EndsWith("-0", StringComparison.Ordinal))
            {
                return new ContainerOutcome(0);
            }

            var job = name[..^2];
            var accuracy = job switch { "trial-a" => 0.81, "trial-b" => 0.87, _ => 0.5 };
            var message = new TerminationMessage(0, Metrics: [new ObservedMetric("val_accuracy", accuracy, Build.T0), new ObservedMetric("val_loss", 1 - accuracy, Build.T0)],
                Model: $"s3://bucket/out/{job}/output/model.tar.gz")
            {
                Inputs = [new InputReport("train", 60000, 47_000_000)],
                ModelDigest = new ModelDigest(1234, Sha),
                Report = $"s3://bucket/out/{job}/output/report.html",
            };
            return new ContainerOutcome(0, message.Serialize());
        }
    }

    [Fact]
    public async Task Trials_are_labelled_listed_by_kubectl_carry_lineage_and_print_side_by_side()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new TrialRuntime(harness.Time);
        var jobs = new (string Name, string Experiment, string? Trial, string Lr)[]
        {
            ("trial-a", "fmnist", "lr-01", "0.1"),
            ("trial-b", "fmnist", "lr-001", "0.01"),
            ("other", "cifar", null, "0.5"),
        };
        foreach (var (name, experiment, trial, lr) in jobs)
        {
            await harness.ApplyAsync(Job(name).WithReplicas(2).With(j =>
            {
                j.Spec.Experiment = new ExperimentSpec { Name = experiment, Trial = trial };
                j.Spec.HyperParameters = new Dictionary<string, string> { ["lr"] = lr, ["epochs"] = "3" };
                j.Spec.Output = new OutputSpec { Uri = "s3://bucket/out" };
                j.Spec.Inputs = [new InputChannel { Name = "train", Uri = "s3://bucket/data/train" }];
            }).Build());
        }

        foreach (var (name, _, _, _) in jobs)
        {
            await harness.ReconcileUntilAsync(name, (job, _) => job?.Status?.Phase == TrainingJobPhase.Succeeded, TimeSpan.FromSeconds(10));
        }

        var a = (await harness.GetAsync("trial-a"))!;
        Assert.Equal("fmnist", a.Metadata.Labels[TrainingJobLabels.Experiment]);
        Assert.Equal("lr-01", a.Metadata.Labels[TrainingJobLabels.Trial]);
        Assert.False((await harness.GetAsync("other"))!.Metadata.Labels.ContainsKey(TrainingJobLabels.Trial));
        var lineage = a.Status!.Lineage!;
        Assert.Equal(TrainingJobBackend.InCluster, lineage.Backend);
        Assert.Equal(a.Spec.Image, lineage.Image);
        Assert.Null(lineage.ImageDigest); // the emulator's kubelet reports an empty imageID
        Assert.Equal(("train", 60000L, 47_000_000L, "s3://bucket/data/train"), (lineage.Inputs![0].Name, lineage.Inputs[0].Objects, lineage.Inputs[0].Bytes, lineage.Inputs[0].Uri));
        Assert.Equal(("s3://bucket/out/trial-a/output/model.tar.gz", 1234L, Sha), (lineage.Model!.Uri, lineage.Model.Size, lineage.Model.Sha256));
        Assert.Equal(1, lineage.Attempts);
        Assert.Equal(a.Status.CompletionTime, lineage.CompletionTime);
        Assert.Equal("s3://bucket/out/trial-a/output/report.html", a.Status.Artifacts!.Report);
        harness.AssertNothingForbidden();

        // Real kubectl selects the experiment's trials by the operator's label.
        var kubectl = Process.Start(new ProcessStartInfo("kubectl", ["--kubeconfig", harness.Api.KubeconfigPath, "get", "tj", "-n", OperatorHarness.Namespace,
            "-l", "ferry.dev/experiment=fmnist", "-o", "name"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var listed = await kubectl.StandardOutput.ReadToEndAsync();
        var kubectlError = await kubectl.StandardError.ReadToEndAsync();
        await kubectl.WaitForExitAsync();
        Assert.True(kubectl.ExitCode == 0, kubectlError);
        Assert.Equal(["trainingjob.ferry.dev/trial-a", "trainingjob.ferry.dev/trial-b"], listed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await ExperimentsCommand.RunAsync("fmnist", new ClusterConnection(harness.Api.KubeconfigPath, null, OperatorHarness.Namespace), false, output, error, CancellationToken.None);
        Assert.True(exit == 0, error.ToString());
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("EXPERIMENT fmnist: 2 trial(s)", lines[0]);
        Assert.Equal(["TRIAL", "TRAININGJOB", "PHASE", "ATTEMPTS", "DURATION", "val_accuracy", "val_loss", "hp.epochs", "hp.lr"], Columns(lines[1]));
        Assert.Equal(["lr-001", "trial-b", "Succeeded", "1", DurationOf(harness, "trial-b"), "0.87", "0.13", "3", "0.01"], Columns(lines[2]));
        Assert.Equal(["lr-01", "trial-a", "Succeeded", "1", a.Status.Duration!, "0.81", "0.19", "3", "0.1"], Columns(lines[3]));
        Assert.Equal(4, lines.Length);
    }

    private static string DurationOf(OperatorHarness harness, string job) => harness.GetAsync(job).GetAwaiter().GetResult()!.Status!.Duration!;

    private static string[] Columns(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
