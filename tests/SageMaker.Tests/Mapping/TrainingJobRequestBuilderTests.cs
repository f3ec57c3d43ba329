using System.Text.Json;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator.Model;

namespace Ferry.SageMaker.Tests.Mapping;

/// <summary>Each spec field lands where SageMaker reads it; what SageMaker cannot honour is named, never dropped.</summary>
public sealed class TrainingJobRequestBuilderTests
{
    private static readonly Lazy<ShapeValidator> Validator = new(() => new ShapeValidator(ServiceModel.LoadBotocore("sagemaker", "2017-07-24")));

    public static TheoryData<string> Samples() => new(Jobs.SageMakerSamples());

    [Fact]
    public void ThereIsASageMakerSample() => Assert.NotEmpty(Jobs.SageMakerSamples());

    [Theory]
    [MemberData(nameof(Samples))]
    public void EverySageMakerSampleMapsToARequestTheServiceModelAccepts(string file)
    {
        var job = Jobs.Sample(file);

        Assert.Empty(TrainingJobRequestBuilder.Problems(job));
        var request = TrainingJobRequestBuilder.Build(job, attempt: 1);

        AssertValid(request);
    }

    [Fact]
    public void TheSageMakerSampleLandsFieldByField()
    {
        var job = Jobs.Sample("fashion-mnist-sagemaker.yaml");

        var r = TrainingJobRequestBuilder.Build(job, attempt: 3);

        Assert.Equal("fashion-mnist-sagemaker-5c0ffee0-3", r.TrainingJobName);
        Assert.Equal("arn:aws:iam::123456789012:role/ferry-sagemaker-training", r.RoleArn);
        Assert.Equal("123456789012.dkr.ecr.eu-west-1.amazonaws.com/ferry-trainer:0.1.0", r.AlgorithmSpecification!.TrainingImage);
        Assert.Equal("File", r.AlgorithmSpecification.TrainingInputMode);
        Assert.Null(r.AlgorithmSpecification.ContainerEntrypoint);
        Assert.Equal(["train", "test"], r.InputDataConfig!.Select(c => c.ChannelName));
        Assert.All(r.InputDataConfig!, c => Assert.Equal(("S3Prefix", "s3://ferry-datasets-example/fashion-mnist/", "FullyReplicated"),
            (c.DataSource.S3DataSource!.S3DataType, c.DataSource.S3DataSource.S3Uri, c.DataSource.S3DataSource.S3DataDistributionType)));
        Assert.Equal("s3://ferry-artifacts-example/fashion-mnist", r.OutputDataConfig.S3OutputPath);
        Assert.Equal(new ResourceConfig { InstanceType = "ml.g5.xlarge", InstanceCount = 2, VolumeSizeInGB = 50 }, r.ResourceConfig);
        Assert.Equal(new Ferry.Operator.SageMaker.StoppingCondition { MaxRuntimeInSeconds = 3600, MaxWaitTimeInSeconds = 7200 }, r.StoppingCondition);
        Assert.True(r.EnableManagedSpotTraining);
        Assert.Equal(new CheckpointConfig { S3Uri = "s3://ferry-artifacts-example/fashion-mnist/checkpoints", LocalPath = "/opt/ml/checkpoints" }, r.CheckpointConfig);
        Assert.Equal(["train_loss", "val_loss", "val_accuracy", "epoch"], r.AlgorithmSpecification.MetricDefinitions!.Select(m => m.Name));
        Assert.Equal(@"\btrain_loss=([-+0-9.eE]+|nan|NaN)", r.AlgorithmSpecification.MetricDefinitions![0].Regex);
        Assert.Equal("0.05", r.HyperParameters!["learning_rate"]);
        Assert.Equal(5, r.HyperParameters.Count);
        Assert.Equal(new ExperimentConfig { ExperimentName = "fashion-mnist", TrialName = "cnn-sgd-lr005" }, r.ExperimentConfig);
        Assert.Equal(
            [new Tag("cost-center", "4242"), new Tag("team", "ml-platform"), new Tag("ferry.dev/namespace", "ml-team"),
             new Tag("ferry.dev/name", "fashion-mnist-sagemaker"), new Tag("ferry.dev/uid", "5c0ffee0-1234-4abc-9def-000000000001")],
            r.Tags!);
        Assert.False(r.EnableNetworkIsolation);
        Assert.False(r.EnableInterContainerTrafficEncryption);
        Assert.Null(r.VpcConfig);
    }

    public static TheoryData<string, Action<TrainingJobSpec>, Func<CreateTrainingJobRequest, object?>, object?> Fields() => new()
    {
        { "image", s => s.Image = "img:1", r => r.AlgorithmSpecification!.TrainingImage, "img:1" },
        { "command", s => s.Command = ["python", "/opt/ml/code/train.py"], r => string.Join(' ', r.AlgorithmSpecification!.ContainerEntrypoint!), "python /opt/ml/code/train.py" },
        { "command train is the default", s => s.Command = ["train"], r => r.AlgorithmSpecification!.ContainerEntrypoint, null },
        { "args", s => s.Args = ["--epochs", "3"], r => string.Join(' ', r.AlgorithmSpecification!.ContainerArguments!), "--epochs 3" },
        { "hyperParameters", s => s.HyperParameters = new Dictionary<string, string> { ["lr"] = "0.1" }, r => r.HyperParameters!["lr"], "0.1" },
        { "env", s => s.Env = new Dictionary<string, string> { ["NCCL_DEBUG"] = "INFO" }, r => r.Environment!["NCCL_DEBUG"], "INFO" },
        { "inputs sharded", s => s.Inputs = [new InputChannel { Name = "train", Uri = "s3://data/train", Distribution = S3DataDistribution.ShardedByS3Key }],
            r => r.InputDataConfig![0].DataSource.S3DataSource!.S3DataDistributionType, "ShardedByS3Key" },
        { "no inputs leave InputDataConfig out", s => s.Inputs = [], r => r.InputDataConfig, null },
        { "output", s => s.Output = new OutputSpec { Uri = "s3://out/x" }, r => r.OutputDataConfig.S3OutputPath, "s3://out/x" },
        { "output KMS key", s => s.SageMaker!.KmsKeyId = "alias/ferry", r => r.OutputDataConfig.KmsKeyId, "alias/ferry" },
        { "volume KMS key", s => s.SageMaker!.VolumeKmsKeyId = "arn:aws:kms:eu-west-1:123456789012:key/abc", r => r.ResourceConfig!.VolumeKmsKeyId, "arn:aws:kms:eu-west-1:123456789012:key/abc" },
        { "replicas", s => s.Resources!.Replicas = 4, r => r.ResourceConfig!.InstanceCount, 4 },
        { "instanceType", s => s.Resources!.InstanceType = "ml.p4d.24xlarge", r => r.ResourceConfig!.InstanceType, "ml.p4d.24xlarge" },
        { "volumeSizeGB", s => s.Resources!.VolumeSizeGB = 200, r => r.ResourceConfig!.VolumeSizeInGB, 200 },
        { "volumeSizeGB default", _ => { }, r => r.ResourceConfig!.VolumeSizeInGB, TrainingJobRequestBuilder.DefaultVolumeSizeGB },
        { "maxRuntimeSeconds", s => s.StoppingCondition = new() { MaxRuntimeSeconds = 600 }, r => r.StoppingCondition!.MaxRuntimeInSeconds, 600 },
        { "maxRuntimeSeconds default", _ => { }, r => r.StoppingCondition!.MaxRuntimeInSeconds, TrainingJobRequestBuilder.DefaultMaxRuntimeSeconds },
        { "no wait limit without spot", _ => { }, r => r.StoppingCondition!.MaxWaitTimeInSeconds, null },
        { "spot", s => s.Spot = true, r => r.EnableManagedSpotTraining, true },
        { "spot wait defaults to the run time", s => { s.Spot = true; s.StoppingCondition = new() { MaxRuntimeSeconds = 900 }; }, r => r.StoppingCondition!.MaxWaitTimeInSeconds, 900 },
        { "spot maxWaitSeconds", s => { s.Spot = true; s.StoppingCondition = new() { MaxRuntimeSeconds = 900, MaxWaitSeconds = 1800 }; }, r => r.StoppingCondition!.MaxWaitTimeInSeconds, 1800 },
        { "checkpoint", s => s.Checkpoint = new CheckpointSpec { Uri = "s3://ck/p" }, r => $"{r.CheckpointConfig!.S3Uri} {r.CheckpointConfig.LocalPath}", "s3://ck/p /opt/ml/checkpoints" },
        { "vpc", s => s.SageMaker!.Vpc = new VpcSpec { SecurityGroupIds = ["sg-1"], Subnets = ["subnet-1", "subnet-2"] },
            r => $"{string.Join(',', r.VpcConfig!.SecurityGroupIds)} {string.Join(',', r.VpcConfig.Subnets)}", "sg-1 subnet-1,subnet-2" },
        { "networkIsolation", s => s.SageMaker!.NetworkIsolation = true, r => r.EnableNetworkIsolation, true },
        { "enableInterContainerTrafficEncryption", s => s.SageMaker!.EnableInterContainerTrafficEncryption = true, r => r.EnableInterContainerTrafficEncryption, true },
        { "metricDefinitions", s => s.MetricDefinitions = [new() { Name = "loss", Regex = "loss=(\\S+)" }],
            r => string.Join(' ', r.AlgorithmSpecification!.MetricDefinitions!.Select(m => $"{m.Name}:{m.Regex}")), "loss:loss=(\\S+)" },
        { "default metricDefinitions", _ => { }, r => r.AlgorithmSpecification!.MetricDefinitions!.Count, 4 },
        { "experiment", s => s.Experiment = new ExperimentSpec { Name = "exp", Trial = "t1" }, r => $"{r.ExperimentConfig!.ExperimentName}/{r.ExperimentConfig.TrialName}", "exp/t1" },
        { "user tags", s => s.SageMaker!.Tags = new Dictionary<string, string> { ["owner"] = "ana" }, r => r.Tags![0], new Tag("owner", "ana") },
        { "operator tags", _ => { }, r => string.Join(',', r.Tags!.Select(t => t.Key)), "ferry.dev/namespace,ferry.dev/name,ferry.dev/uid" },
        { "retryStrategy", s => s.SageMaker!.RetryStrategy = new SageMakerRetryStrategy { MaximumRetryAttempts = 3 }, r => r.RetryStrategy, new RetryStrategy(3) },
        { "no retryStrategy by default", _ => { }, r => r.RetryStrategy, null },
        { "role", s => s.SageMaker!.RoleArn = "arn:aws:iam::210987654321:role/other", r => r.RoleArn, "arn:aws:iam::210987654321:role/other" },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void EachFieldLandsWhereSageMakerReadsIt(string field, Action<TrainingJobSpec> change, Func<CreateTrainingJobRequest, object?> read, object? expected)
    {
        var job = Jobs.SageMaker(change);

        var request = TrainingJobRequestBuilder.Build(job, attempt: 1);

        Assert.True(Equals(expected, read(request)), $"{field}: expected {expected ?? "null"}, got {read(request) ?? "null"}");
        AssertValid(request);
    }

    public static TheoryData<string, Action<TrainingJobSpec>, string> Unsupported() => new()
    {
        { "spec.backend", s => s.Backend = TrainingJobBackend.InCluster, "not SageMaker" },
        { "spec.image", s => s.Image = null, "spec.image is required" },
        { "spec.image", s => s.Image = "registry.example.com/" + new string('a', 250), "at most 255" },
        { "spec.sageMaker.roleArn", s => s.SageMaker!.RoleArn = null, "IAM role" },
        { "spec.output.uri", s => s.Output = null, "s3:// prefix" },
        { "spec.output.uri", s => s.Output = new OutputSpec { Uri = "file:///tmp/out" }, "only to S3" },
        { "spec.inputs[1].uri", s => s.Inputs = [new() { Name = "a", Uri = "s3://b/a" }, new() { Name = "b", Uri = "file://./data" }], "backend Local" },
        { "spec.checkpoint.uri", s => s.Checkpoint = new CheckpointSpec { Uri = "file:///ck" }, "checkpoints only with S3" },
        { "spec.resources.instanceType", s => s.Resources!.InstanceType = null, "ml.g5.xlarge" },
        { "spec.resources.gpusPerReplica", s => s.Resources!.GpusPerReplica = 1, "has no GPU" },
        { "spec.resources.gpusPerReplica", s => { s.Resources!.InstanceType = "ml.g5.xlarge"; s.Resources.GpusPerReplica = 4; }, "has 1" },
        { "spec.resources.cpu", s => s.Resources!.Cpu = "4", "instance type decides the CPUs" },
        { "spec.resources.memory", s => s.Resources!.Memory = "16Gi", "instance type decides the memory" },
        { "spec.inCluster", s => s.InCluster = new InClusterSpec { SchedulerName = "volcano" }, "remove spec.inCluster" },
        { "spec.command", s => s.Command = ["python", new string('x', 300)], "ContainerEntrypoint" },
        { "spec.args", s => s.Args = [.. Enumerable.Range(0, 101).Select(i => $"a{i}")], "ContainerArguments" },
        { "spec.args", s => s.Args = ["--x", ""], "empty string" },
        { "spec.sageMaker.tags", s => s.SageMaker!.Tags = Enumerable.Range(0, 48).ToDictionary(i => $"k{i}", i => "v"), "keep at most 47" },
        { "spec.sageMaker.tags[ferry.dev/uid]", s => s.SageMaker!.Tags = new Dictionary<string, string> { ["ferry.dev/uid"] = "x" }, "reserves" },
        { "spec.sageMaker.tags[team]", s => s.SageMaker!.Tags = new Dictionary<string, string> { ["team"] = "ml;platform" }, "characters SageMaker refuses" },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void WhatSageMakerCannotHonourIsNamedWithItsFix(string field, Action<TrainingJobSpec> change, string fix)
    {
        var job = Jobs.SageMaker(change);

        var problems = TrainingJobRequestBuilder.Problems(job);
        var refused = Assert.Throws<TrainingJobRefusedException>(() => TrainingJobRequestBuilder.Build(job, attempt: 1));

        var problem = Assert.Single(problems, p => p.Field == field);
        Assert.Contains(field.Split('[')[0], problem.Message);
        Assert.Contains(fix, problem.Message);
        Assert.Contains(problem.Message, refused.Message);
    }

    [Fact]
    public void TheSmallestJobHasNoProblems() => Assert.Empty(TrainingJobRequestBuilder.Problems(Jobs.SageMaker()));

    [Theory]
    [InlineData("ml.m5.xlarge", 0)]
    [InlineData("ml.c5.2xlarge", 0)]
    [InlineData("ml.p3.16xlarge", 8)]
    [InlineData("ml.g5.12xlarge", 4)]
    public void GpuCountsOfKnownInstanceTypes(string type, int gpus) => Assert.Equal(gpus, TrainingJobRequestBuilder.GpusOf(type));

    [Fact]
    public void AGpuCountOfAnUnknownFamilyIsNotGuessed() => Assert.Null(TrainingJobRequestBuilder.GpusOf("ml.trn1.32xlarge"));

    [Fact]
    public void TheValidatorRejectsWhatSageMakerWould()
    {
        var request = TrainingJobRequestBuilder.Build(Jobs.SageMaker(), 1) with { TrainingJobName = "bad_name" };

        var result = Validate(request);

        Assert.Contains(result.Violations, v => v.Contains("'trainingJobName'", StringComparison.Ordinal));
    }

    private static ShapeValidator.Result Validate(CreateTrainingJobRequest request)
    {
        using var document = JsonDocument.Parse(JsonSerializer.Serialize(request, SageMakerJson.Options));
        return Validator.Value.Validate("CreateTrainingJobRequest", document.RootElement);
    }

    private static void AssertValid(CreateTrainingJobRequest request)
    {
        var result = Validate(request);
        Assert.True(result.IsValid, string.Join("\n", result.TypeErrors.Concat(result.Violations)));
    }
}
