using System.Globalization;

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

    /// <summary>The toolkit's instance group of a homogeneous cluster (every SageMaker training job without heterogeneous groups).</summary>
    public const string InstanceGroup = "homogeneousCluster";

    /// <summary>The toolkit's `/opt/ml/code`, its default `module_dir`.</summary>
    public const string CodeDirectory = "code";

    // Hyperparameters the toolkit takes for itself (params.SAGEMAKER_HYPERPARAMETERS): never user hyperparameters.
    private static readonly HashSet<string> ToolkitHyperParameters =
    [
        "sagemaker_program", "sagemaker_submit_directory", "sagemaker_enable_cloudwatch_metrics", "sagemaker_region",
        "sagemaker_container_log_level", "sagemaker_job_name", "default_user_module_name", "_tuning_objective_metric", "sagemaker_s3_output",
    ];

    // Framework parameters that put the current instance group into the distribution (the toolkit's
    // get_distribution_instance_groups_from_resource_config).
    private static readonly string[] DistributionFlags =
    [
        "sagemaker_mpi_enabled", "sagemaker_parameter_server_enabled", "sagemaker_distributed_dataparallel_enabled", "sagemaker_pytorch_ddp_enabled",
        "sagemaker_pytorch_xla_multi_worker_enabled", "sagemaker_multi_worker_mirrored_strategy_enabled", "sagemaker_torch_distributed_enabled",
    ];

    /// <summary>The three configuration files under `input/config`.</summary>
    public static IReadOnlyList<ContractFile> Files(ContractJob job, ContractReplica replica) =>
    [
        new(HyperParametersFile, ToolkitJson.Dumps(HyperParametersFileJson(job))),
        new(ResourceConfigFile, ToolkitJson.Dumps(ResourceConfigJson(job, replica))),
        new(InputDataConfigFile, ToolkitJson.Dumps(InputDataConfigJson(job))),
    ];

    /// <summary>
    /// The environment of the training process, in a stable order: the SM_* variables exactly as the SageMaker
    /// training toolkit's `Environment.to_env_vars()` writes them, SageMaker's own `TRAINING_JOB_NAME` and the toolkit's
    /// `CURRENT_HOST`, the torchrun variables, <see cref="RootVariable"/>, then the job's own `env` (a user value
    /// replaces a contract value).
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Environment(ContractJob job, ContractReplica replica)
    {
        Validate(job, replica);
        var masterAddress = replica.MasterAddress ?? replica.Hosts[0];
        var variables = new List<KeyValuePair<string, string>>();
        void Add(string name, string value) => variables.Add(new(name, value));

        var training = TrainingEnvironment(job, replica);
        ToolkitValue Get(string key) => training.Entries.Single(e => e.Key == key).Value;
        var hyperParameters = (ToolkitDictionary)Get("hyperparameters");
        var channels = (ToolkitDictionary)Get("channel_input_dirs");

        // The keys of to_env_vars, in its order; each value through format_value.
        var toolkit = new (string Key, ToolkitValue Value)[]
        {
            ("hosts", Get("hosts")),
            ("network_interface_name", Get("network_interface_name")),
            ("hps", hyperParameters),
            ("user_entry_point", Get("user_entry_point")),
            ("framework_params", Get("additional_framework_parameters")),
            ("resource_config", Get("resource_config")),
            ("input_data_config", Get("input_data_config")),
            ("output_data_dir", Get("output_data_dir")),
            ("channels", ToolkitValue.List(channels.Entries.Select(e => e.Key).Order(ToolkitJson.CodePointComparer.Instance))),
            ("current_host", Get("current_host")),
            ("current_instance_type", Get("current_instance_type")),
            ("current_instance_group", Get("current_instance_group")),
            ("current_instance_group_hosts", Get("current_instance_group_hosts")),
            ("instance_groups", Get("instance_groups")),
            ("instance_groups_dict", Get("instance_groups_dict")),
            ("distribution_instance_groups", Get("distribution_instance_groups")),
            ("is_hetero", Get("is_hetero")),
            ("module_name", Get("module_name")),
            ("log_level", Get("log_level")),
            ("framework_module", Get("framework_module")),
            ("input_dir", Get("input_dir")),
            ("input_config_dir", Get("input_config_dir")),
            ("output_dir", Get("output_dir")),
            ("num_cpus", Get("num_cpus")),
            ("num_gpus", Get("num_gpus")),
            ("num_neurons", Get("num_neurons")),
            ("model_dir", Get("model_dir")),
            ("module_dir", Get("module_dir")),
            ("training_env", training),
            ("user_args", ToolkitValue.List(ToolkitJson.CommandArguments(hyperParameters))),
            ("output_intermediate_dir", Get("output_intermediate_dir")),
        };
        foreach (var (key, value) in toolkit)
        {
            Add(EnvironmentName(key), ToolkitJson.EnvironmentValue(value));
        }

        foreach (var (name, path) in channels.Entries)
        {
            Add(EnvironmentName("channel_" + name), ToolkitJson.EnvironmentValue(path));
        }

        foreach (var (name, value) in hyperParameters.Entries)
        {
            Add(EnvironmentName("hp_" + name), ToolkitJson.EnvironmentValue(value));
        }

        // SageMaker sets TRAINING_JOB_NAME in the container; the toolkit exports CURRENT_HOST.
        Add("TRAINING_JOB_NAME", job.JobName);
        Add("CURRENT_HOST", replica.Hosts[replica.Index]);

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

        Add(RootVariable, replica.Root);

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

    /// <summary>The toolkit's environment variable name for a key: `SM_` + the key upper-cased.</summary>
    public static string EnvironmentName(string key) => "SM_" + key.ToUpperInvariant();

    /// <summary>`hyperparameters.json`: every value a string, as SageMaker writes it.</summary>
    public static ToolkitDictionary HyperParametersFileJson(ContractJob job) =>
        new([.. job.HyperParameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, ToolkitValue.From(p.Value)))]);

    /// <summary>
    /// `resourceconfig.json` as SageMaker writes it for a homogeneous cluster: `current_host`, `current_instance_type`,
    /// `current_group_name`, `hosts`, `instance_groups` (one group, `homogeneousCluster`) and `network_interface_name`.
    /// </summary>
    public static ToolkitDictionary ResourceConfigJson(ContractJob job, ContractReplica replica)
    {
        var hosts = ToolkitValue.List(replica.Hosts);
        var instanceType = ToolkitValue.From(InstanceType(job));
        return ToolkitDictionary.Of(
            ("current_host", ToolkitValue.From(replica.Hosts[replica.Index])),
            ("current_instance_type", instanceType),
            ("current_group_name", ToolkitValue.From(InstanceGroup)),
            ("hosts", hosts),
            ("instance_groups", new ToolkitList([ToolkitDictionary.Of(
                ("instance_group_name", ToolkitValue.From(InstanceGroup)),
                ("instance_type", instanceType),
                ("hosts", hosts))])),
            ("network_interface_name", ToolkitValue.From(replica.NetworkInterfaceName)));
    }

    /// <summary>`inputdataconfig.json`: per channel `TrainingInputMode` File, the `S3DistributionType`, `RecordWrapperType` None.</summary>
    public static ToolkitDictionary InputDataConfigJson(ContractJob job) =>
        new([.. job.Channels.Select(c => KeyValuePair.Create(c.Name, (ToolkitValue)ToolkitDictionary.Of(
            ("TrainingInputMode", ToolkitValue.From("File")),
            ("S3DistributionType", ToolkitValue.From(c.Distribution)),
            ("RecordWrapperType", ToolkitValue.From("None")))))]);

    /// <summary>
    /// `SM_TRAINING_ENV`: every property of the toolkit's `Environment`, computed as the toolkit computes it from the
    /// three files: hyperparameters decoded with `json.loads`, `sagemaker_*` ones split off into
    /// `additional_framework_parameters`, the instance-group view of `resourceconfig.json`.
    /// </summary>
    public static ToolkitDictionary TrainingEnvironment(ContractJob job, ContractReplica replica)
    {
        var root = replica.Root;
        var decoded = job.HyperParameters.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, ToolkitJson.DecodeHyperParameter(p.Value))).ToList();
        bool IsToolkits(string name) => ToolkitHyperParameters.Contains(name) || name.StartsWith("sagemaker_", StringComparison.Ordinal);
        var user = new ToolkitDictionary([.. decoded.Where(p => !IsToolkits(p.Key))]);
        var sageMaker = decoded.Where(p => IsToolkits(p.Key)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var framework = new ToolkitDictionary([.. decoded.Where(p => IsToolkits(p.Key) && !ToolkitHyperParameters.Contains(p.Key))]);
        ToolkitValue? Framework(string name) => framework.Entries.Where(e => e.Key == name).Select(e => e.Value).FirstOrDefault();

        var hosts = ToolkitValue.List(replica.Hosts);
        var current = replica.Hosts[replica.Index];
        var instanceType = InstanceType(job);
        var resourceConfig = ResourceConfigJson(job, replica);
        var group = ToolkitDictionary.Of(
            ("instance_group_name", ToolkitValue.From(InstanceGroup)), ("instance_type", ToolkitValue.From(instanceType)), ("hosts", hosts));
        var distributionGroups = Framework("sagemaker_distribution_instance_groups")
            ?? new ToolkitList(DistributionFlags.Any(flag => ToolkitJson.Truthy(Framework(flag))) ? [ToolkitValue.From(InstanceGroup)] : []);
        var distributionHosts = distributionGroups is ToolkitList groups && groups.Items.Contains(ToolkitValue.From(InstanceGroup))
            ? replica.Hosts
            : [];
        var master = distributionHosts.Count > 0 ? distributionHosts[0] : replica.Hosts[0];

        // An entry point named by the job (SAGEMAKER_PROGRAM or the sagemaker_program hyperparameter) is the toolkit's;
        // without one the toolkit would report None, and Ferry reports the command SageMaker runs, `train`.
        job.Environment.TryGetValue("SAGEMAKER_PROGRAM", out var programVariable);
        var program = !string.IsNullOrEmpty(programVariable) ? ToolkitValue.From(programVariable)
            : sageMaker.TryGetValue("sagemaker_program", out var programParameter) ? programParameter
            : ToolkitValue.From(DefaultCommand);
        var moduleName = ToolkitJson.Str(program);
        if (moduleName.EndsWith(".py", StringComparison.Ordinal))
        {
            moduleName = moduleName[..^3];
        }

        var moduleDirectory = sageMaker.TryGetValue("sagemaker_submit_directory", out var submit) ? ToolkitJson.Str(submit) : PathOf(root, CodeDirectory);
        var frameworkModule = job.Environment.TryGetValue("SAGEMAKER_TRAINING_MODULE", out var module) && !string.IsNullOrEmpty(module)
            ? ToolkitValue.From(module)
            : ToolkitNull.Instance;
        var channels = new ToolkitDictionary([.. job.Channels.Select(c => KeyValuePair.Create(c.Name, ToolkitValue.From(ChannelDirectory(root, c.Name))))]);

        return ToolkitDictionary.Of(
            ("additional_framework_parameters", framework),
            ("channel_input_dirs", channels),
            ("current_host", ToolkitValue.From(current)),
            ("current_instance_group", ToolkitValue.From(InstanceGroup)),
            ("current_instance_group_hosts", hosts),
            ("current_instance_type", ToolkitValue.From(instanceType)),
            ("distribution_hosts", ToolkitValue.List(distributionHosts)),
            ("distribution_instance_groups", distributionGroups),
            ("framework_module", frameworkModule),
            ("hosts", hosts),
            ("hyperparameters", user),
            ("input_config_dir", ToolkitValue.From(PathOf(root, InputConfigDirectory))),
            ("input_data_config", InputDataConfigJson(job)),
            ("input_dir", ToolkitValue.From(PathOf(root, InputDirectory))),
            ("instance_groups", ToolkitValue.List([InstanceGroup])),
            ("instance_groups_dict", ToolkitDictionary.Of((InstanceGroup, group))),
            ("is_hetero", ToolkitValue.From(false)),
            ("is_master", ToolkitValue.From(current == master)),
            ("is_modelparallel_enabled", ToolkitNull.Instance),
            ("is_smddpmprun_installed", ToolkitValue.From(false)),
            ("is_smddprun_installed", ToolkitValue.From(false)),
            ("job_name", ToolkitValue.From(job.JobName)),
            ("log_level", sageMaker.TryGetValue("sagemaker_container_log_level", out var level) ? level : ToolkitValue.From(DefaultLogLevel)),
            ("master_hostname", ToolkitValue.From(master)),
            ("model_dir", ToolkitValue.From(PathOf(root, ModelDirectory))),
            ("module_dir", ToolkitValue.From(moduleDirectory)),
            ("module_name", ToolkitValue.From(moduleName)),
            ("network_interface_name", ToolkitValue.From(replica.NetworkInterfaceName)),
            ("num_cpus", ToolkitValue.From(job.CpusPerReplica)),
            ("num_gpus", ToolkitValue.From(job.GpusPerReplica)),
            ("num_neurons", ToolkitValue.From(0)),
            ("output_data_dir", ToolkitValue.From(PathOf(root, OutputDataDirectory))),
            ("output_dir", ToolkitValue.From(PathOf(root, OutputDirectory))),
            ("output_intermediate_dir", ToolkitValue.From(PathOf(root, OutputIntermediateDirectory))),
            ("resource_config", resourceConfig),
            ("topology", new ToolkitList([])),
            ("user_entry_point", program));
    }

    private static string InstanceType(ContractJob job) => job.InstanceType ?? "local";

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

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
