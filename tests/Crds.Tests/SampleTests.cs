using System.Text.Json.Nodes;
using Ferry.Crds.Tests.Support;
using Ferry.Crds.V1Alpha1;
using k8s;

namespace Ferry.Crds.Tests;

/// <summary>The samples a user copies are valid against the CRD and read into the C# types.</summary>
public sealed class SampleTests
{
    public static TheoryData<string> Samples() => new(Manifests.SampleFiles);

    [Theory]
    [MemberData(nameof(Samples))]
    public void SampleIsValidAgainstTheCrdSchema(string file)
    {
        var errors = CrdSchemaValidator.FromCommittedCrd().Validate(Manifests.Sample(file));
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Path}: {e.Kind}")));
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void SampleDeserialisesAndRoundTrips(string file)
    {
        var json = Manifests.Sample(file).ToJsonString();
        var job = KubernetesJson.Deserialize<TrainingJob>(json);

        Assert.Equal(TrainingJob.GroupVersion, job.ApiVersion);
        Assert.Equal(TrainingJob.KubeKind, job.Kind);
        Assert.False(string.IsNullOrEmpty(job.Metadata.Name));
        Assert.NotNull(job.Spec.Resources);
        Assert.Equal(2, job.Spec.Resources.Replicas);
        Assert.Equal(["train", "test"], job.Spec.Inputs!.Select(i => i.Name));

        // Writing it back (with the defaults the types fill in) is still a valid manifest, and stable.
        var written = KubernetesJson.Serialize(job);
        Assert.Empty(CrdSchemaValidator.FromCommittedCrd().Validate(JsonNode.Parse(written)!));
        Assert.Equal(written, KubernetesJson.Serialize(KubernetesJson.Deserialize<TrainingJob>(written)));
    }

    [Fact]
    public void LocalSampleIsTheDemo()
    {
        var job = KubernetesJson.Deserialize<TrainingJob>(Manifests.Sample("fashion-mnist-local.yaml").ToJsonString());

        Assert.Equal(TrainingJobBackend.Local, job.Spec.Backend);
        Assert.Null(job.Spec.Image);
        Assert.Equal(0, job.Spec.Resources!.GpusPerReplica);
        Assert.All(job.Spec.Inputs!, i => Assert.Equal("file:///usr/share/datasets/fashion-mnist", i.Uri));
        Assert.Equal("file://./artifacts/fashion-mnist", job.Spec.Output!.Uri);
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["model"] = "mlp", ["epochs"] = "3", ["batch_size"] = "64", ["learning_rate"] = "0.001", ["optimizer"] = "adam",
            },
            job.Spec.HyperParameters);
    }

    [Fact]
    public void InClusterSampleReadsQuantitiesAndTolerations()
    {
        var job = KubernetesJson.Deserialize<TrainingJob>(Manifests.Sample("fashion-mnist-incluster.yaml").ToJsonString());

        Assert.Equal(TrainingJobBackend.InCluster, job.Spec.Backend);
        Assert.Equal("4", job.Spec.Resources!.Cpu);
        Assert.Equal("16Gi", job.Spec.Resources.Memory);
        Assert.Equal(1, job.Spec.Resources.GpusPerReplica);
        Assert.Equal(2, job.Spec.MaxRetries);
        Assert.Equal("nvidia.com/gpu", Assert.Single(job.Spec.InCluster!.Tolerations!).Key);
        Assert.Equal(CleanPodPolicy.Running, job.Spec.InCluster.CleanPodPolicy);
        Assert.Equal([TrainingRuleType.NaN, TrainingRuleType.LossNotDecreasing], job.Spec.Rules!.Select(r => r.Type));
    }

    [Fact]
    public void SageMakerSampleUsesSpotAndTheDefaultMetricDefinitions()
    {
        var job = KubernetesJson.Deserialize<TrainingJob>(Manifests.Sample("fashion-mnist-sagemaker.yaml").ToJsonString());

        Assert.Equal(TrainingJobBackend.SageMaker, job.Spec.Backend);
        Assert.True(job.Spec.Spot);
        Assert.True(job.Spec.StoppingCondition!.MaxWaitSeconds >= job.Spec.StoppingCondition.MaxRuntimeSeconds);
        Assert.Equal("ml.g5.xlarge", job.Spec.Resources!.InstanceType);
        Assert.Equal(
            MetricDefinition.Defaults.Select(d => (d.Name, d.Regex)),
            job.Spec.MetricDefinitions!.Select(d => (d.Name, d.Regex)));
        Assert.Equal(RuleAction.None, Assert.Single(job.Spec.Rules!).Action);
        Assert.Equal("cnn-sgd-lr005", job.Spec.Experiment!.Trial);
        Assert.Equal("4242", job.Spec.SageMaker!.Tags!["cost-center"]);
    }

    [Fact]
    public void FractionalNumbersAreNotQuantities()
    {
        // int-or-string, like the API server: 0.5 must be written "500m" or "0.5".
        var manifest = Manifests.Sample("fashion-mnist-incluster.yaml").With("spec.resources.cpu", 0.5);
        Assert.Contains(CrdSchemaValidator.FromCommittedCrd().Validate(manifest), e => e.Path == "#/spec.resources.cpu");
    }

    [Fact]
    public void QuantitiesWrittenAsNumbersReadAsStrings()
    {
        var manifest = Manifests.Sample("fashion-mnist-incluster.yaml").With("spec.resources.cpu", 2).With("spec.resources.memory", 17179869184);

        Assert.Empty(CrdSchemaValidator.FromCommittedCrd().Validate(manifest));
        var job = KubernetesJson.Deserialize<TrainingJob>(manifest.ToJsonString());
        Assert.Equal("2", job.Spec.Resources!.Cpu);
        Assert.Equal("17179869184", job.Spec.Resources.Memory);
        Assert.Contains("\"cpu\":\"2\"", KubernetesJson.Serialize(job), StringComparison.Ordinal);
    }
}
