using System.Text.RegularExpressions;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using CrdMetricDefinition = Ferry.Crds.V1Alpha1.MetricDefinition;

namespace Ferry.Operator.SageMaker;

/// <summary>A field of a TrainingJob that SageMaker cannot honour, with what to do about it.</summary>
/// <param name="Field">The field's path, e.g. <c>spec.inputs[0].uri</c>.</param>
/// <param name="Message">What is wrong and the fix, naming the field.</param>
public sealed record SageMakerSpecProblem(string Field, string Message);

/// <summary>Maps a TrainingJob (one attempt) to SageMaker's CreateTrainingJob request; pure, no I/O.</summary>
public static partial class TrainingJobRequestBuilder
{
    /// <summary>Where SageMaker syncs the checkpoint prefix inside the container, as on every backend.</summary>
    public const string CheckpointLocalPath = "/opt/ml/checkpoints";

    /// <summary>SageMaker's own default when a job names no run-time limit: one day.</summary>
    public const int DefaultMaxRuntimeSeconds = 86_400;

    /// <summary>The scratch volume when the spec names none, as the SageMaker Python SDK defaults it.</summary>
    public const int DefaultVolumeSizeGB = 30;

    /// <summary>The tags the operator adds to every job: the resource's namespace, name and UID.</summary>
    public const string NamespaceTag = "ferry.dev/namespace";
    public const string NameTag = "ferry.dev/name";
    public const string UidTag = "ferry.dev/uid";

    private const int MaxTags = 50;
    private const int MaxContainerStrings = 100;
    private const int MaxContainerStringLength = 256;
    private const int MaxImageLength = 255;

    // GPUs per instance of the GPU instance types SageMaker trains on; other p/g types are checked by family below.
    private static readonly Dictionary<string, int> GpusByInstanceType = new(StringComparer.Ordinal)
    {
        ["ml.p2.xlarge"] = 1, ["ml.p2.8xlarge"] = 8, ["ml.p2.16xlarge"] = 16,
        ["ml.p3.2xlarge"] = 1, ["ml.p3.8xlarge"] = 4, ["ml.p3.16xlarge"] = 8, ["ml.p3dn.24xlarge"] = 8,
        ["ml.p4d.24xlarge"] = 8, ["ml.p4de.24xlarge"] = 8,
        ["ml.p5.4xlarge"] = 1, ["ml.p5.48xlarge"] = 8, ["ml.p5e.48xlarge"] = 8, ["ml.p5en.48xlarge"] = 8,
        ["ml.g4dn.xlarge"] = 1, ["ml.g4dn.2xlarge"] = 1, ["ml.g4dn.4xlarge"] = 1, ["ml.g4dn.8xlarge"] = 1, ["ml.g4dn.16xlarge"] = 1, ["ml.g4dn.12xlarge"] = 4,
        ["ml.g5.xlarge"] = 1, ["ml.g5.2xlarge"] = 1, ["ml.g5.4xlarge"] = 1, ["ml.g5.8xlarge"] = 1, ["ml.g5.16xlarge"] = 1, ["ml.g5.12xlarge"] = 4, ["ml.g5.24xlarge"] = 4, ["ml.g5.48xlarge"] = 8,
        ["ml.g6.xlarge"] = 1, ["ml.g6.2xlarge"] = 1, ["ml.g6.4xlarge"] = 1, ["ml.g6.8xlarge"] = 1, ["ml.g6.16xlarge"] = 1, ["ml.g6.12xlarge"] = 4, ["ml.g6.24xlarge"] = 4, ["ml.g6.48xlarge"] = 8,
        ["ml.g6e.xlarge"] = 1, ["ml.g6e.2xlarge"] = 1, ["ml.g6e.4xlarge"] = 1, ["ml.g6e.8xlarge"] = 1, ["ml.g6e.16xlarge"] = 1, ["ml.g6e.12xlarge"] = 4, ["ml.g6e.24xlarge"] = 4, ["ml.g6e.48xlarge"] = 8,
    };

    /// <summary>
    /// The CreateTrainingJob request for <paramref name="attempt"/> (1 for the first) of <paramref name="job"/>.
    /// Throws <see cref="TrainingJobRefusedException"/> naming every field SageMaker cannot honour (see <see cref="Problems"/>):
    /// nothing of the spec is dropped silently.
    /// </summary>
    public static CreateTrainingJobRequest Build(TrainingJob job, int attempt)
    {
        ArgumentNullException.ThrowIfNull(job);
        var problems = Problems(job);
        if (problems.Count > 0)
        {
            throw new TrainingJobRefusedException(string.Join("; ", problems.Select(p => p.Message)));
        }

        var spec = job.Spec;
        var sageMaker = spec.SageMaker!;
        var resources = spec.Resources ?? new ResourceSpec();
        var maxRuntime = spec.StoppingCondition?.MaxRuntimeSeconds ?? DefaultMaxRuntimeSeconds;
        IEnumerable<CrdMetricDefinition> metricDefinitions = spec.MetricDefinitions is { Count: > 0 } declared ? declared : CrdMetricDefinition.Defaults;
        var command = spec.Command is { Count: > 0 } c && !(c.Count == 1 && c[0] == "train") ? c : null;
        return new CreateTrainingJobRequest
        {
            TrainingJobName = SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid, attempt),
            RoleArn = sageMaker.RoleArn!,
            AlgorithmSpecification = new AlgorithmSpecification
            {
                TrainingImage = spec.Image,
                TrainingInputMode = "File",
                MetricDefinitions = [.. metricDefinitions.Select(m => new MetricDefinition(m.Name, m.Regex))],
                // SageMaker runs the image as `train` by default, which is the spec's default command too.
                ContainerEntrypoint = command is null ? null : [.. command],
                ContainerArguments = spec.Args is { Count: > 0 } args ? [.. args] : null,
            },
            HyperParameters = Sorted(spec.HyperParameters),
            Environment = Sorted(spec.Env),
            InputDataConfig = spec.Inputs is { Count: > 0 } inputs
                ? [.. inputs.Select(i => new Channel
                {
                    ChannelName = i.Name,
                    DataSource = new DataSource
                    {
                        S3DataSource = new S3DataSource { S3DataType = "S3Prefix", S3Uri = i.Uri, S3DataDistributionType = i.Distribution.ToString() },
                    },
                })]
                : null,
            OutputDataConfig = new OutputDataConfig { S3OutputPath = spec.Output!.Uri, KmsKeyId = NullIfEmpty(sageMaker.KmsKeyId) },
            ResourceConfig = new ResourceConfig
            {
                InstanceType = resources.InstanceType,
                InstanceCount = resources.Replicas,
                VolumeSizeInGB = resources.VolumeSizeGB ?? DefaultVolumeSizeGB,
                VolumeKmsKeyId = NullIfEmpty(sageMaker.VolumeKmsKeyId),
            },
            StoppingCondition = new StoppingCondition
            {
                MaxRuntimeInSeconds = maxRuntime,
                // Managed spot needs a wait limit; the run time alone is the tightest honest one.
                MaxWaitTimeInSeconds = spec.Spot ? spec.StoppingCondition?.MaxWaitSeconds ?? maxRuntime : null,
            },
            EnableManagedSpotTraining = spec.Spot,
            CheckpointConfig = spec.Checkpoint is { } checkpoint ? new CheckpointConfig { S3Uri = checkpoint.Uri, LocalPath = CheckpointLocalPath } : null,
            VpcConfig = sageMaker.Vpc is { } vpc ? new VpcConfig { SecurityGroupIds = [.. vpc.SecurityGroupIds], Subnets = [.. vpc.Subnets] } : null,
            EnableNetworkIsolation = sageMaker.NetworkIsolation,
            EnableInterContainerTrafficEncryption = sageMaker.EnableInterContainerTrafficEncryption,
            RetryStrategy = sageMaker.RetryStrategy is { } retry ? new RetryStrategy(retry.MaximumRetryAttempts) : null,
            ExperimentConfig = spec.Experiment is { } experiment
                ? new ExperimentConfig { ExperimentName = experiment.Name, TrialName = experiment.Trial }
                : null,
            Tags = Tags(job),
        };
    }

    /// <summary>The tags of a job: the user's (sorted by key), then the operator's namespace, name and UID tags.</summary>
    public static IReadOnlyList<Tag> Tags(TrainingJob job)
    {
        var tags = (job.Spec.SageMaker?.Tags ?? new Dictionary<string, string>())
            .OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => new Tag(t.Key, t.Value))
            .ToList();
        tags.Add(new Tag(NamespaceTag, job.Metadata.NamespaceProperty ?? "default"));
        tags.Add(new Tag(NameTag, job.Metadata.Name));
        tags.Add(new Tag(UidTag, job.Metadata.Uid));
        return tags;
    }

    /// <summary>
    /// Every field of <paramref name="job"/> that SageMaker cannot honour as written, each with a message naming the field
    /// and the fix. Empty means <see cref="Build"/> maps the whole spec.
    /// </summary>
    public static IReadOnlyList<SageMakerSpecProblem> Problems(TrainingJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var spec = job.Spec;
        var problems = new List<SageMakerSpecProblem>();
        void Add(string field, string message) => problems.Add(new SageMakerSpecProblem(field, message));

        if (spec.Backend != TrainingJobBackend.SageMaker)
        {
            Add("spec.backend", $"spec.backend is {spec.Backend}, not SageMaker: only a TrainingJob with backend SageMaker maps to a SageMaker training job");
        }

        if (string.IsNullOrEmpty(job.Metadata.Name) || string.IsNullOrEmpty(job.Metadata.Uid))
        {
            Add("metadata", "metadata.name and metadata.uid are needed to name the SageMaker job: create the TrainingJob through the Kubernetes API");
        }

        if (string.IsNullOrEmpty(spec.Image))
        {
            Add("spec.image", "spec.image is required with backend SageMaker: set it to the training image in ECR, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ferry-trainer:0.1.0");
        }
        else if (spec.Image.Length > MaxImageLength)
        {
            Add("spec.image", $"spec.image is {spec.Image.Length} characters but SageMaker takes at most {MaxImageLength} (AlgorithmSpecification.TrainingImage): push the image under a shorter repository name or refer to it by a shorter tag");
        }

        if (string.IsNullOrEmpty(spec.SageMaker?.RoleArn))
        {
            Add("spec.sageMaker.roleArn", "spec.sageMaker.roleArn is required with backend SageMaker: set it to the IAM role SageMaker assumes, e.g. arn:aws:iam::123456789012:role/ferry-training");
        }

        if (spec.Output is null || string.IsNullOrEmpty(spec.Output.Uri))
        {
            Add("spec.output.uri", "spec.output.uri is required with backend SageMaker: set it to the s3:// prefix where SageMaker writes the model");
        }
        else if (!IsS3(spec.Output.Uri))
        {
            Add("spec.output.uri", $"spec.output.uri '{spec.Output.Uri}' is not an s3:// URI; SageMaker writes only to S3: set it to an s3://bucket/prefix");
        }

        for (var i = 0; i < (spec.Inputs?.Count ?? 0); i++)
        {
            var input = spec.Inputs![i];
            if (!IsS3(input.Uri))
            {
                Add($"spec.inputs[{i}].uri", $"spec.inputs[{i}].uri '{input.Uri}' (channel {input.Name}) is not an s3:// URI; SageMaker reads channels only from S3: upload the data and use its s3://bucket/prefix, or run with backend Local");
            }
        }

        if (spec.Checkpoint is { } checkpoint && !IsS3(checkpoint.Uri))
        {
            Add("spec.checkpoint.uri", $"spec.checkpoint.uri '{checkpoint.Uri}' is not an s3:// URI; SageMaker syncs checkpoints only with S3: set it to an s3://bucket/prefix");
        }

        var resources = spec.Resources ?? new ResourceSpec();
        if (string.IsNullOrEmpty(resources.InstanceType))
        {
            Add("spec.resources.instanceType", "spec.resources.instanceType is required with backend SageMaker: set it to a SageMaker instance type, e.g. ml.g5.xlarge");
        }
        else if (resources.GpusPerReplica > 0 && GpusOf(resources.InstanceType) is { } gpus && gpus < resources.GpusPerReplica)
        {
            Add("spec.resources.gpusPerReplica", gpus == 0
                ? $"spec.resources.gpusPerReplica is {resources.GpusPerReplica} but {resources.InstanceType} has no GPU: choose a GPU instance type in spec.resources.instanceType (e.g. ml.g5.xlarge) or set gpusPerReplica to 0"
                : $"spec.resources.gpusPerReplica is {resources.GpusPerReplica} but {resources.InstanceType} has {gpus}: choose a larger instance type in spec.resources.instanceType or set gpusPerReplica to at most {gpus}");
        }

        if (!string.IsNullOrEmpty(resources.Cpu))
        {
            Add("spec.resources.cpu", "spec.resources.cpu applies to backends InCluster and Local; on SageMaker the instance type decides the CPUs: remove spec.resources.cpu and choose spec.resources.instanceType");
        }

        if (!string.IsNullOrEmpty(resources.Memory))
        {
            Add("spec.resources.memory", "spec.resources.memory applies to backends InCluster and Local; on SageMaker the instance type decides the memory: remove spec.resources.memory and choose spec.resources.instanceType");
        }

        if (spec.InCluster is not null)
        {
            Add("spec.inCluster", "spec.inCluster holds settings of backend InCluster that SageMaker cannot apply (node selector, tolerations, scheduler, service account, pod clean-up): remove spec.inCluster");
        }

        var command = spec.Command ?? [];
        if (command.Count > MaxContainerStrings || command.Any(s => s.Length > MaxContainerStringLength))
        {
            Add("spec.command", $"spec.command becomes SageMaker's ContainerEntrypoint, which takes at most {MaxContainerStrings} strings of at most {MaxContainerStringLength} characters: shorten spec.command (e.g. move the script into the image)");
        }

        var args = spec.Args ?? [];
        if (args.Count > MaxContainerStrings || args.Any(s => s.Length > MaxContainerStringLength))
        {
            Add("spec.args", $"spec.args become SageMaker's ContainerArguments, which take at most {MaxContainerStrings} strings of at most {MaxContainerStringLength} characters: pass long values as spec.hyperParameters instead");
        }

        if (args.Any(s => s.Length == 0))
        {
            Add("spec.args", "spec.args has an empty string, which SageMaker's ContainerArguments refuse: remove the empty argument");
        }

        var userTags = spec.SageMaker?.Tags ?? new Dictionary<string, string>();
        if (userTags.Count > MaxTags - 3)
        {
            Add("spec.sageMaker.tags", $"spec.sageMaker.tags has {userTags.Count} tags; SageMaker allows {MaxTags} per job and the operator adds 3 ({NamespaceTag}, {NameTag}, {UidTag}): keep at most {MaxTags - 3}");
        }

        foreach (var (key, value) in userTags)
        {
            if (key.StartsWith("ferry.dev/", StringComparison.Ordinal))
            {
                Add($"spec.sageMaker.tags[{key}]", $"spec.sageMaker.tags key '{key}' uses the prefix ferry.dev/, which the operator reserves for its own tags: rename the tag");
            }

            if (!TagText().IsMatch(key) || !TagText().IsMatch(value))
            {
                Add($"spec.sageMaker.tags[{key}]", $"spec.sageMaker.tags '{key}' has characters SageMaker refuses in tags: use letters, digits, spaces and _ . : / = + - @ only");
            }
        }

        if (spec.Experiment is { Trial: not null } && string.IsNullOrEmpty(spec.Experiment.Name))
        {
            Add("spec.experiment.name", "spec.experiment.trial needs spec.experiment.name: name the experiment the trial belongs to");
        }

        return problems;
    }

    /// <summary>The GPUs of a SageMaker instance type: known for GPU types, 0 for the CPU families, null when unknown.</summary>
    public static int? GpusOf(string instanceType)
    {
        if (GpusByInstanceType.TryGetValue(instanceType, out var gpus))
        {
            return gpus;
        }

        var family = instanceType.Split('.') is [_, var f, _] ? f : "";
        return family.Length > 0 && family[0] is 'm' or 'c' or 'r' or 't' && !family.StartsWith("trn", StringComparison.Ordinal) ? 0 : null;
    }

    private static bool IsS3(string uri) => uri.StartsWith("s3://", StringComparison.Ordinal) && uri.Length > "s3://".Length;

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static SortedDictionary<string, string>? Sorted(IDictionary<string, string>? map) =>
        map is { Count: > 0 } ? new SortedDictionary<string, string>(map, StringComparer.Ordinal) : null;

    [GeneratedRegex(@"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$")]
    private static partial Regex TagText();
}
