using Ferry.Crds.Serialization;
using Ferry.Crds.V1Alpha1;
using k8s;
using k8s.Models;

namespace Ferry.SageMaker.Tests.Support;

/// <summary>TrainingJobs for tests: the samples as a user copies them, and a small SageMaker job to vary.</summary>
public static class Jobs
{
    /// <summary>Every sample in config/samples whose backend is SageMaker.</summary>
    public static IReadOnlyList<string> SageMakerSamples() => [.. Directory.EnumerateFiles(RepoPaths.Of("config", "samples"), "*.yaml")
        .Where(f => Sample(f).Spec.Backend == TrainingJobBackend.SageMaker)
        .Select(Path.GetFileName)
        .Order(StringComparer.Ordinal)!];

    /// <summary>A sample read as the API server would store it (namespace and UID set).</summary>
    public static TrainingJob Sample(string file)
    {
        var path = Path.IsPathRooted(file) ? file : RepoPaths.Of("config", "samples", file);
        var json = ManifestYaml.Parse(File.ReadAllText(path))!.ToJsonString();
        var job = KubernetesJson.Deserialize<TrainingJob>(json);
        job.Metadata.NamespaceProperty ??= "ml-team";
        job.Metadata.Uid ??= "5c0ffee0-1234-4abc-9def-000000000001";
        return job;
    }

    /// <summary>The smallest valid SageMaker job; <paramref name="change"/> varies it.</summary>
    public static TrainingJob SageMaker(Action<TrainingJobSpec>? change = null, string name = "mnist", string uid = "0a1b2c3d-0000-4000-8000-000000000042")
    {
        var job = new TrainingJob
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ml-team", Uid = uid },
            Spec = new TrainingJobSpec
            {
                Backend = TrainingJobBackend.SageMaker,
                Image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ferry-trainer:0.1.0",
                Output = new OutputSpec { Uri = "s3://artifacts/mnist" },
                Resources = new ResourceSpec { Replicas = 1, InstanceType = "ml.m5.xlarge" },
                SageMaker = new SageMakerSpec { RoleArn = "arn:aws:iam::123456789012:role/ferry-training" },
            },
        };
        change?.Invoke(job.Spec);
        return job;
    }
}
