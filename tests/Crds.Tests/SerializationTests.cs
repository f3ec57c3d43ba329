using System.ComponentModel;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;
using Ferry.Crds.Tests.Support;
using Ferry.Crds.V1Alpha1;
using k8s;
using k8s.Models;

namespace Ferry.Crds.Tests;

/// <summary>The types read and write what the API server stores, with KubernetesClient and plain System.Text.Json.</summary>
public sealed class SerializationTests
{
    private static readonly DateTime Started = new(2026, 11, 23, 14, 0, 5, DateTimeKind.Utc);

    private static TrainingJob RunningJob() => new()
    {
        Metadata = new V1ObjectMeta { Name = "fashion-mnist", NamespaceProperty = "ml", Generation = 3 },
        Spec = new TrainingJobSpec
        {
            Backend = TrainingJobBackend.SageMaker,
            Image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ferry-trainer:0.1.0",
            Inputs = [new InputChannel { Name = "train", Uri = "s3://bucket-a/train", Distribution = S3DataDistribution.ShardedByS3Key }],
            Output = new OutputSpec { Uri = "s3://bucket-a/out" },
            Resources = new ResourceSpec { Replicas = 2, InstanceType = "ml.g5.xlarge" },
            SageMaker = new SageMakerSpec { RoleArn = "arn:aws:iam::123456789012:role/ferry" },
        },
        Status = new TrainingJobStatus
        {
            Phase = TrainingJobPhase.Running,
            ObservedGeneration = 3,
            Attempt = 1,
            StartTime = Started,
            Conditions =
            [
                new V1Condition
                {
                    Type = TrainingJobConditions.Created, Status = "True", Reason = "SageMakerJobCreated", Message = "Created", ObservedGeneration = 3,
                    LastTransitionTime = Started,
                },
                new V1Condition
                {
                    Type = TrainingJobConditions.Running, Status = "True", Reason = "Training", Message = "Training on 2 instances", ObservedGeneration = 3,
                    LastTransitionTime = Started.AddSeconds(90),
                },
            ],
            Replicas = new ReplicaStatus { Active = 2 },
            Metrics = [new MetricValue { Name = "train_loss", Value = 0.4123, Timestamp = Started.AddMinutes(2) }],
            Artifacts = new ArtifactsStatus { Checkpoints = "s3://bucket-a/ckpt" },
            SageMaker = new SageMakerStatus { JobName = "fashion-mnist-1a2b3c4d", Status = "InProgress", SecondaryStatus = "Training", BillableSeconds = 0 },
        },
    };

    [Fact]
    public void StatusRoundTripsThroughKubernetesJson()
    {
        var json = KubernetesJson.Serialize(RunningJob());
        var node = JsonNode.Parse(json)!;

        Assert.Equal("Running", (string?)node["status"]!["phase"]);
        Assert.Equal("2026-11-23T14:00:05Z", (string?)node["status"]!["startTime"]);
        Assert.Equal("2026-11-23T14:01:35Z", (string?)node["status"]!["conditions"]![1]!["lastTransitionTime"]);
        Assert.Equal("SageMaker", (string?)node["spec"]!["backend"]);
        Assert.Equal("ShardedByS3Key", (string?)node["spec"]!["inputs"]![0]!["distribution"]);
        Assert.Null(node["status"]!["completionTime"]);

        var back = KubernetesJson.Deserialize<TrainingJob>(json);
        Assert.Equal(TrainingJobPhase.Running, back.Status!.Phase);
        Assert.Equal(Started, back.Status.StartTime);
        Assert.Equal(DateTimeKind.Utc, back.Status.StartTime!.Value.Kind);
        Assert.Equal(
            [(TrainingJobConditions.Created, "True", "SageMakerJobCreated", 3L), (TrainingJobConditions.Running, "True", "Training", 3L)],
            back.Status.Conditions!.Select(c => (c.Type, c.Status, c.Reason, c.ObservedGeneration ?? -1)));
        Assert.Equal(Started.AddSeconds(90), back.Status.Conditions![1].LastTransitionTime);
        Assert.Equal(0.4123, Assert.Single(back.Status.Metrics!).Value);
        Assert.Equal("fashion-mnist-1a2b3c4d", back.Status.SageMaker!.JobName);
        Assert.Equal(json, KubernetesJson.Serialize(back));
    }

    [Fact]
    public void WrittenStatusIsValidAgainstTheCrd()
    {
        var json = JsonNode.Parse(KubernetesJson.Serialize(RunningJob()))!;
        var errors = CrdSchemaValidator.FromCommittedCrd().Validate(json);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Path}: {e.Kind}")));
    }

    [Fact]
    public void ReadsTimestampsAsTheApiServerWritesThem()
    {
        const string stored = """
            {"apiVersion":"ferry.dev/v1alpha1","kind":"TrainingJob","metadata":{"name":"a"},"spec":{},
             "status":{"phase":"Succeeded","startTime":"2026-11-23T14:00:05Z","completionTime":"2026-11-23T14:03:17Z","duration":"3m12s",
              "conditions":[{"type":"Complete","status":"True","reason":"Succeeded","message":"model uploaded","lastTransitionTime":"2026-11-23T14:03:17Z","observedGeneration":1}],
              "artifacts":{"model":"s3://bucket-a/out/a/output/model.tar.gz"}}}
            """;
        var job = KubernetesJson.Deserialize<TrainingJob>(stored);

        Assert.Equal(TrainingJobPhase.Succeeded, job.Status!.Phase);
        Assert.Equal(TimeSpan.FromSeconds(192), job.Status.CompletionTime - job.Status.StartTime);
        Assert.Equal(TrainingJobStatus.FormatDuration(job.Status.CompletionTime!.Value - job.Status.StartTime!.Value), job.Status.Duration);
        Assert.Equal(new DateTime(2026, 11, 23, 14, 3, 17, DateTimeKind.Utc), Assert.Single(job.Status.Conditions!).LastTransitionTime);
        Assert.Equal(TrainingJobBackend.InCluster, job.Spec.Backend);
        Assert.Equal("s3://bucket-a/out/a/output/model.tar.gz", job.Status.Artifacts!.Model);
    }

    [Fact]
    public void PlainSystemTextJsonWritesEnumsAsStrings()
    {
        var options = new JsonSerializerOptions { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
        var json = JsonSerializer.Serialize(RunningJob(), options);
        var node = JsonNode.Parse(json)!;

        Assert.Equal("SageMaker", (string?)node["spec"]!["backend"]);
        Assert.Equal("Running", (string?)node["status"]!["phase"]);
        Assert.Equal("Stop", (string?)JsonNode.Parse(JsonSerializer.Serialize(new TrainingRule { Type = TrainingRuleType.NaN }))!["action"]);

        var back = JsonSerializer.Deserialize<TrainingJob>(json, options)!;
        Assert.Equal(TrainingJobPhase.Running, back.Status!.Phase);
        Assert.Equal(S3DataDistribution.ShardedByS3Key, back.Spec.Inputs![0].Distribution);
        Assert.Equal(Started, back.Status.StartTime);
    }

    [Fact]
    public void UnknownEnumValuesAreRefused()
    {
        var ex = Assert.ThrowsAny<JsonException>(() => KubernetesJson.Deserialize<TrainingJobSpec>("""{"backend":"Cloud"}"""));
        Assert.Contains("backend", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<Type> ApiTypes() => new(typeof(TrainingJob).Assembly.GetTypes()
        .Where(t => t.Namespace == typeof(TrainingJob).Namespace && t.IsClass && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null
            && t.GetProperties().Any(p => p.GetCustomAttribute<DefaultAttribute>() is not null)));

    /// <summary>An object built in C# means what the same manifest means after the API server's defaulting.</summary>
    [Theory]
    [MemberData(nameof(ApiTypes))]
    public void CSharpDefaultsMatchTheSchemaDefaults(Type type)
    {
        var instance = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties().Where(p => p.GetCustomAttribute<DefaultAttribute>() is not null))
        {
            var declared = property.GetCustomAttribute<DefaultAttribute>()!.Value;
            var actual = property.GetValue(instance);
            var normalised = actual is Enum e ? e.ToString() : actual;
            Assert.True(Equals(Convert.ChangeType(declared, normalised!.GetType(), System.Globalization.CultureInfo.InvariantCulture), normalised),
                $"{type.Name}.{property.Name}: C# default {normalised}, schema default {declared}");
        }
    }

    [Fact]
    public void EveryApiPropertyIsDescribed()
    {
        var undocumented = typeof(TrainingJob).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(TrainingJob).Namespace && t.IsClass && t.GetCustomAttribute<DescriptionAttribute>() is not null)
            .SelectMany(t => t.GetProperties().Where(p => p.GetCustomAttribute<JsonPropertyNameAttribute>() is not null)
                .Where(p => p.GetCustomAttribute<DescriptionAttribute>() is null && p.Name is not "Metadata")
                .Select(p => $"{t.Name}.{p.Name}"))
            .ToList();
        Assert.Empty(undocumented);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(119, "119s")]
    [InlineData(192, "3m12s")]
    [InlineData(300, "5m")]
    [InlineData(600, "10m")]
    [InlineData(3 * 3600 + 5 * 60, "3h5m")]
    [InlineData(8 * 3600, "8h")]
    [InlineData(50 * 3600, "2d2h")]
    [InlineData(10 * 86400, "10d")]
    [InlineData(800 * 86400, "2y70d")]
    public void DurationsReadLikeKubectl(int seconds, string expected) =>
        Assert.Equal(expected, TrainingJobStatus.FormatDuration(TimeSpan.FromSeconds(seconds)));
}
