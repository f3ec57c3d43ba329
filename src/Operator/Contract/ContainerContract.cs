using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.Operator.Contract;

/// <summary>
/// The container contract of DESIGN.md §3 as pure functions: the directory layout under the root
/// (`/opt/ml` or `FERRY_OPT_ML`), the configuration files, and the environment variables SageMaker's
/// training toolkit sets, plus torchrun's variables. Used by the agent, the InCluster backend and the
/// Local backend, so a training image sees the same thing on every backend.
/// </summary>
public static class ContainerContract
{
    /// <summary>The root in a SageMaker or Ferry container.</summary>
    public const string DefaultRoot = "/opt/ml";

    /// <summary>Environment variable that overrides the root (the trainer and the agent honour it).</summary>
    public const string RootVariable = "FERRY_OPT_ML";

    /// <summary>Default entry point: SageMaker runs the image as `train`.</summary>
    public const string DefaultCommand = "train";

    /// <summary>torchrun's default rendezvous port.</summary>
    public const int DefaultMasterPort = 29500;

    /// <summary>The network interface a container sees.</summary>
    public const string DefaultNetworkInterface = "eth0";

    /// <summary>SageMaker's log level (logging.INFO).</summary>
    public const int DefaultLogLevel = 20;

    /// <summary>Channel distribution: every replica gets every object.</summary>
    public const string FullyReplicated = "FullyReplicated";

    /// <summary>Channel distribution: replica i of N gets every N-th object of the key-sorted list.</summary>
    public const string ShardedByS3Key = "ShardedByS3Key";

    // Relative paths under the root; the names are SageMaker's.
    public const string InputDirectory = "input";
    public const string InputConfigDirectory = "input/config";
    public const string InputDataDirectory = "input/data";
    public const string HyperParametersFile = "input/config/hyperparameters.json";
    public const string ResourceConfigFile = "input/config/resourceconfig.json";
    public const string InputDataConfigFile = "input/config/inputdataconfig.json";
    public const string ModelDirectory = "model";
    public const string OutputDirectory = "output";
    public const string OutputDataDirectory = "output/data";
    public const string OutputIntermediateDirectory = "output/intermediate";
    public const string FailureFile = "output/failure";
    public const string CheckpointsDirectory = "checkpoints";

    private static readonly JsonSerializerOptions CompactJson = new() { WriteIndented = false };

    /// <summary>SageMaker's host name of replica <paramref name="index"/>: `algo-(index+1)`.</summary>
    public static string HostName(int index) => "algo-" + (index + 1).ToString(CultureInfo.InvariantCulture);

    /// <summary>`algo-1..N`.</summary>
    public static IReadOnlyList<string> HostNames(int replicas) =>
        Enumerable.Range(0, replicas).Select(HostName).ToArray();

    /// <summary>The root from the environment (`FERRY_OPT_ML`), else `/opt/ml`.</summary>
    public static string RootFromEnvironment(Func<string, string?>? getVariable = null)
    {
        var value = (getVariable ?? System.Environment.GetEnvironmentVariable)(RootVariable);
        return string.IsNullOrWhiteSpace(value) ? DefaultRoot : value;
    }

    /// <summary>The absolute path of a contract path (e.g. <see cref="ModelDirectory"/>) under <paramref name="root"/>.</summary>
    public static string PathOf(string root, string relativePath) =>
        root.TrimEnd('/') + "/" + relativePath;

    /// <summary>The directory a channel is downloaded to.</summary>
    public static string ChannelDirectory(string root, string channel) => PathOf(root, InputDataDirectory + "/" + channel);

    /// <summary>Directories the contract creates before the process starts (`output/failure` is a file: only its parent is created).</summary>
    public static IReadOnlyList<string> Directories(ContractJob job) =>
    [
        InputConfigDirectory,
        InputDataDirectory,
        .. job.Channels.Select(c => InputDataDirectory + "/" + c.Name),
        ModelDirectory,
        OutputDataDirectory,
        OutputIntermediateDirectory,
        CheckpointsDirectory,
    ];

    /// <summary>The three configuration files under `input/config`.</summary>
    public static IReadOnlyList<ContractFile> Files(ContractJob job, ContractReplica replica) =>
    [
        new(HyperParametersFile, HyperParametersJson(job).ToJsonString(CompactJson)),
        new(ResourceConfigFile, ResourceConfigJson(replica).ToJsonString(CompactJson)),
        new(InputDataConfigFile, InputDataConfigJson(job).ToJsonString(CompactJson)),
    ];

    /// <summary>
    /// The environment of the training process, in a stable order: SageMaker toolkit variables, torchrun
    /// variables, <see cref="RootVariable"/>, then the job's own `env` (a user value replaces a contract value).
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Environment(ContractJob job, ContractReplica replica)
    {
        Validate(job, replica);
        var root = replica.Root;
        var current = replica.Hosts[replica.Index];
        var masterAddress = replica.MasterAddress ?? replica.Hosts[0];
        var variables = new List<KeyValuePair<string, string>>();
        void Add(string name, string value) => variables.Add(new(name, value));

        Add("SM_MODEL_DIR", PathOf(root, ModelDirectory));
        Add("SM_CHANNELS", Json(new JsonArray([.. job.Channels.Select(c => (JsonNode)c.Name)])));
        foreach (var channel in job.Channels)
        {
            Add("SM_CHANNEL_" + channel.Name.ToUpperInvariant(), ChannelDirectory(root, channel.Name));
        }

        Add("SM_HPS", Json(HyperParametersJson(job)));
        foreach (var (name, value) in job.HyperParameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Add("SM_HP_" + name.ToUpperInvariant(), value);
        }

        Add("SM_HOSTS", Json(new JsonArray([.. replica.Hosts.Select(h => (JsonNode)h)])));
        Add("SM_CURRENT_HOST", current);
        Add("SM_CURRENT_INSTANCE_TYPE", job.InstanceType ?? "local");
        Add("SM_NUM_GPUS", Invariant(job.GpusPerReplica));
        Add("SM_NUM_CPUS", Invariant(job.CpusPerReplica));
        Add("SM_NUM_NEURONS", "0");
        Add("SM_LOG_LEVEL", Invariant(DefaultLogLevel));
        Add("SM_NETWORK_INTERFACE_NAME", replica.NetworkInterfaceName);
        Add("SM_USER_ARGS", Json(UserArgsJson(job)));
        Add("SM_USER_ENTRY_POINT", DefaultCommand);
        Add("SM_MODULE_NAME", DefaultCommand);
        Add("SM_MODULE_DIR", "");
        Add("SM_FRAMEWORK_MODULE", "");
        Add("SM_FRAMEWORK_PARAMS", "{}");
        Add("SM_INPUT_DIR", PathOf(root, InputDirectory));
        Add("SM_INPUT_CONFIG_DIR", PathOf(root, InputConfigDirectory));
        Add("SM_OUTPUT_DIR", PathOf(root, OutputDirectory));
        Add("SM_OUTPUT_DATA_DIR", PathOf(root, OutputDataDirectory));
        Add("SM_OUTPUT_INTERMEDIATE_DIR", PathOf(root, OutputIntermediateDirectory));
        Add("SM_INPUT_DATA_CONFIG", Json(InputDataConfigJson(job)));
        Add("SM_RESOURCE_CONFIG", Json(ResourceConfigJson(replica)));
        Add("SM_TRAINING_ENV", Json(TrainingEnvJson(job, replica)));

        // torchrun: one process per replica, so the world is the replica count and LOCAL_RANK is 0.
        Add("MASTER_ADDR", masterAddress);
        Add("MASTER_PORT", Invariant(replica.MasterPort));
        Add("WORLD_SIZE", Invariant(job.Replicas));
        Add("RANK", Invariant(replica.Index));
        Add("LOCAL_RANK", "0");
        Add("NODE_RANK", Invariant(replica.Index));
        Add("PET_NNODES", Invariant(job.Replicas));
        Add("PET_NODE_RANK", Invariant(replica.Index));
        Add("PET_NPROC_PER_NODE", "1");

        Add(RootVariable, root);

        foreach (var (name, value) in job.Environment.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var existing = variables.FindIndex(v => v.Key == name);
            if (existing >= 0)
            {
                variables[existing] = new(name, value);
            }
            else
            {
                Add(name, value);
            }
        }

        return variables;
    }

    /// <summary>`hyperparameters.json`: every value a string, as SageMaker writes it.</summary>
    public static JsonObject HyperParametersJson(ContractJob job)
    {
        var result = new JsonObject();
        foreach (var (name, value) in job.HyperParameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            result[name] = value;
        }

        return result;
    }

    /// <summary>`resourceconfig.json`: `{current_host, hosts, network_interface_name}`.</summary>
    public static JsonObject ResourceConfigJson(ContractReplica replica) => new()
    {
        ["current_host"] = replica.Hosts[replica.Index],
        ["hosts"] = new JsonArray([.. replica.Hosts.Select(h => (JsonNode)h)]),
        ["network_interface_name"] = replica.NetworkInterfaceName,
    };

    /// <summary>`inputdataconfig.json`: per channel `TrainingInputMode` File, the `S3DistributionType`, `RecordWrapperType` None.</summary>
    public static JsonObject InputDataConfigJson(ContractJob job)
    {
        var result = new JsonObject();
        foreach (var channel in job.Channels)
        {
            result[channel.Name] = new JsonObject
            {
                ["TrainingInputMode"] = "File",
                ["S3DistributionType"] = channel.Distribution,
                ["RecordWrapperType"] = "None",
            };
        }

        return result;
    }

    /// <summary>SageMaker's `SM_USER_ARGS`: hyperparameters as `--name value` pairs.</summary>
    public static JsonArray UserArgsJson(ContractJob job) =>
        new([.. job.HyperParameters.OrderBy(p => p.Key, StringComparer.Ordinal)
            .SelectMany(p => new JsonNode?[] { "--" + p.Key, p.Value })]);

    /// <summary>`SM_TRAINING_ENV`: the toolkit's summary of everything above in one JSON object.</summary>
    public static JsonObject TrainingEnvJson(ContractJob job, ContractReplica replica)
    {
        var root = replica.Root;
        var channels = new JsonObject();
        foreach (var channel in job.Channels)
        {
            channels[channel.Name] = ChannelDirectory(root, channel.Name);
        }

        return new JsonObject
        {
            ["additional_framework_parameters"] = new JsonObject(),
            ["channel_input_dirs"] = channels,
            ["current_host"] = replica.Hosts[replica.Index],
            ["current_instance_type"] = job.InstanceType ?? "local",
            ["framework_module"] = null,
            ["hosts"] = new JsonArray([.. replica.Hosts.Select(h => (JsonNode)h)]),
            ["hyperparameters"] = HyperParametersJson(job),
            ["input_config_dir"] = PathOf(root, InputConfigDirectory),
            ["input_data_config"] = InputDataConfigJson(job),
            ["input_dir"] = PathOf(root, InputDirectory),
            ["is_master"] = replica.Index == 0,
            ["job_name"] = job.JobName,
            ["log_level"] = DefaultLogLevel,
            ["master_hostname"] = replica.Hosts[0],
            ["model_dir"] = PathOf(root, ModelDirectory),
            ["module_dir"] = "",
            ["module_name"] = DefaultCommand,
            ["network_interface_name"] = replica.NetworkInterfaceName,
            ["num_cpus"] = job.CpusPerReplica,
            ["num_gpus"] = job.GpusPerReplica,
            ["num_neurons"] = 0,
            ["output_data_dir"] = PathOf(root, OutputDataDirectory),
            ["output_dir"] = PathOf(root, OutputDirectory),
            ["output_intermediate_dir"] = PathOf(root, OutputIntermediateDirectory),
            ["resource_config"] = ResourceConfigJson(replica),
            ["user_args"] = UserArgsJson(job),
            ["user_entry_point"] = DefaultCommand,
        };
    }

    private static void Validate(ContractJob job, ContractReplica replica)
    {
        if (job.Replicas < 1)
        {
            throw new ArgumentException($"spec.resources.replicas is {job.Replicas}; set it to 1 or more.", nameof(job));
        }

        if (replica.Hosts.Count != job.Replicas)
        {
            throw new ArgumentException($"{replica.Hosts.Count} host names given for {job.Replicas} replicas.", nameof(replica));
        }

        if (replica.Index < 0 || replica.Index >= job.Replicas)
        {
            throw new ArgumentOutOfRangeException(nameof(replica), $"Replica index {replica.Index} is outside 0..{job.Replicas - 1}.");
        }
    }

    private static string Json(JsonNode node) => node.ToJsonString(CompactJson);

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
