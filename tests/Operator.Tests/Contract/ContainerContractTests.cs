using System.Text.Json.Nodes;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Tests.Contract;

public sealed class ContainerContractTests
{
    private static readonly ContractJob Job = new(
        JobName: "mnist",
        Replicas: 2,
        GpusPerReplica: 4,
        CpusPerReplica: 8,
        HyperParameters: new Dictionary<string, string> { ["epochs"] = "3", ["learning-rate"] = "0.1" },
        Channels: [new("train", ContainerContract.ShardedByS3Key), new("test", ContainerContract.FullyReplicated)],
        Environment: new Dictionary<string, string> { ["MY_FLAG"] = "on" },
        InstanceType: "ml.p4d.24xlarge");

    private static readonly ContractReplica Second = new(1, "/opt/ml", ContainerContract.HostNames(2));

    private static Dictionary<string, string> Env(ContractJob? job = null, ContractReplica? replica = null) =>
        ContainerContract.Environment(job ?? Job, replica ?? Second).ToDictionary(p => p.Key, p => p.Value);

    // Every variable, with the value the SageMaker training toolkit (Environment.to_env_vars) gives this job on
    // algo-2 of a two-instance ml.p4d.24xlarge cluster: JSON compact with sorted keys, hyperparameters decoded.
    [Theory]
    [InlineData("SM_MODEL_DIR", "/opt/ml/model")]
    [InlineData("SM_CHANNELS", "[\"test\",\"train\"]")]
    [InlineData("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")]
    [InlineData("SM_CHANNEL_TEST", "/opt/ml/input/data/test")]
    [InlineData("SM_HPS", "{\"epochs\":3,\"learning-rate\":0.1}")]
    [InlineData("SM_HP_EPOCHS", "3")]
    [InlineData("SM_HP_LEARNING-RATE", "0.1")]
    [InlineData("SM_HOSTS", "[\"algo-1\",\"algo-2\"]")]
    [InlineData("SM_CURRENT_HOST", "algo-2")]
    [InlineData("SM_CURRENT_INSTANCE_TYPE", "ml.p4d.24xlarge")]
    [InlineData("SM_CURRENT_INSTANCE_GROUP", "homogeneousCluster")]
    [InlineData("SM_CURRENT_INSTANCE_GROUP_HOSTS", "[\"algo-1\",\"algo-2\"]")]
    [InlineData("SM_INSTANCE_GROUPS", "[\"homogeneousCluster\"]")]
    [InlineData("SM_INSTANCE_GROUPS_DICT", "{\"homogeneousCluster\":{\"hosts\":[\"algo-1\",\"algo-2\"],\"instance_group_name\":\"homogeneousCluster\",\"instance_type\":\"ml.p4d.24xlarge\"}}")]
    [InlineData("SM_DISTRIBUTION_INSTANCE_GROUPS", "[]")]
    [InlineData("SM_IS_HETERO", "false")]
    [InlineData("SM_NUM_GPUS", "4")]
    [InlineData("SM_NUM_CPUS", "8")]
    [InlineData("SM_NUM_NEURONS", "0")]
    [InlineData("SM_LOG_LEVEL", "20")]
    [InlineData("SM_NETWORK_INTERFACE_NAME", "eth0")]
    [InlineData("SM_USER_ARGS", "[\"--epochs\",\"3\",\"--learning-rate\",\"0.1\"]")]
    [InlineData("SM_USER_ENTRY_POINT", "train")]
    [InlineData("SM_MODULE_NAME", "train")]
    [InlineData("SM_MODULE_DIR", "/opt/ml/code")]
    [InlineData("SM_FRAMEWORK_MODULE", "")]
    [InlineData("SM_FRAMEWORK_PARAMS", "{}")]
    [InlineData("SM_INPUT_DIR", "/opt/ml/input")]
    [InlineData("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")]
    [InlineData("SM_OUTPUT_DIR", "/opt/ml/output")]
    [InlineData("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")]
    [InlineData("SM_OUTPUT_INTERMEDIATE_DIR", "/opt/ml/output/intermediate")]
    [InlineData("SM_INPUT_DATA_CONFIG", "{\"test\":{\"RecordWrapperType\":\"None\",\"S3DistributionType\":\"FullyReplicated\",\"TrainingInputMode\":\"File\"},\"train\":{\"RecordWrapperType\":\"None\",\"S3DistributionType\":\"ShardedByS3Key\",\"TrainingInputMode\":\"File\"}}")]
    [InlineData("SM_RESOURCE_CONFIG", "{\"current_group_name\":\"homogeneousCluster\",\"current_host\":\"algo-2\",\"current_instance_type\":\"ml.p4d.24xlarge\",\"hosts\":[\"algo-1\",\"algo-2\"],\"instance_groups\":[{\"hosts\":[\"algo-1\",\"algo-2\"],\"instance_group_name\":\"homogeneousCluster\",\"instance_type\":\"ml.p4d.24xlarge\"}],\"network_interface_name\":\"eth0\"}")]
    [InlineData("TRAINING_JOB_NAME", "mnist")]
    [InlineData("CURRENT_HOST", "algo-2")]
    [InlineData("MASTER_ADDR", "algo-1")]
    [InlineData("MASTER_PORT", "29500")]
    [InlineData("WORLD_SIZE", "2")]
    [InlineData("RANK", "1")]
    [InlineData("LOCAL_RANK", "0")]
    [InlineData("NODE_RANK", "1")]
    [InlineData("PET_NNODES", "2")]
    [InlineData("PET_NODE_RANK", "1")]
    [InlineData("PET_NPROC_PER_NODE", "1")]
    [InlineData("FERRY_OPT_ML", "/opt/ml")]
    [InlineData("MY_FLAG", "on")]
    public void Environment_pins_every_variable(string name, string expected)
    {
        var env = Env();
        Assert.True(env.ContainsKey(name), $"{name} is missing");
        Assert.Equal(expected, env[name]);
    }

    [Fact]
    public void Environment_has_no_unpinned_variables_except_the_training_env()
    {
        var pinned = typeof(ContainerContractTests).GetMethod(nameof(Environment_pins_every_variable))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).First()[0]).ToHashSet();
        var unpinned = Env().Keys.Where(k => !pinned.Contains(k)).ToArray();
        Assert.Equal(["SM_TRAINING_ENV"], unpinned);
    }

    [Fact]
    public void Channels_are_listed_sorted_whatever_the_spec_order()
    {
        var job = Job with { Channels = [new("validation", ContainerContract.FullyReplicated), new("Train", ContainerContract.FullyReplicated), new("a.b", ContainerContract.FullyReplicated), new("test", ContainerContract.FullyReplicated)] };
        Assert.Equal("[\"Train\",\"a.b\",\"test\",\"validation\"]", Env(job)["SM_CHANNELS"]);
    }

    // The properties of the toolkit's Environment (every @property of sagemaker_training.environment.Environment).
    private static readonly string[] ToolkitProperties =
    [
        "additional_framework_parameters", "channel_input_dirs", "current_host", "current_instance_group", "current_instance_group_hosts",
        "current_instance_type", "distribution_hosts", "distribution_instance_groups", "framework_module", "hosts", "hyperparameters",
        "input_config_dir", "input_data_config", "input_dir", "instance_groups", "instance_groups_dict", "is_hetero", "is_master",
        "is_modelparallel_enabled", "is_smddpmprun_installed", "is_smddprun_installed", "job_name", "log_level", "master_hostname", "model_dir",
        "module_dir", "module_name", "network_interface_name", "num_cpus", "num_gpus", "num_neurons", "output_data_dir", "output_dir",
        "output_intermediate_dir", "resource_config", "topology", "user_entry_point",
    ];

    [Fact]
    public void Training_env_has_exactly_the_toolkits_properties_in_sorted_order()
    {
        var text = Env()["SM_TRAINING_ENV"];
        var training = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(ToolkitProperties, training.Select(p => p.Key));
        Assert.Equal("algo-2", (string?)training["current_host"]);
        Assert.False((bool)training["is_master"]!);
        Assert.Equal("algo-1", (string?)training["master_hostname"]);
        Assert.Equal("mnist", (string?)training["job_name"]);
        Assert.Equal("/opt/ml/input/data/train", (string?)training["channel_input_dirs"]!["train"]);
        Assert.Equal(4, (int)training["num_gpus"]!);
        Assert.Equal(3, (int)training["hyperparameters"]!["epochs"]!);
        Assert.Equal(20, (int)training["log_level"]!);
        Assert.Null(training["framework_module"]);
        Assert.Null(training["is_modelparallel_enabled"]);
        Assert.Equal("[]", training["topology"]!.ToJsonString());
        Assert.Equal(Env()["SM_RESOURCE_CONFIG"], training["resource_config"]!.ToJsonString());
        Assert.True(JsonNode.Parse(Env(replica: Second with { Index = 0 })["SM_TRAINING_ENV"])!["is_master"]!.GetValue<bool>());
    }

    public static TheoryData<string, string, string, string> ToolkitHyperParameters => new()
    {
        // hyperparameter, value → variable, expected
        { "sagemaker_program", "\"train.py\"", "SM_MODULE_NAME", "train" },
        { "sagemaker_program", "\"train.py\"", "SM_USER_ENTRY_POINT", "train.py" },
        { "sagemaker_submit_directory", "\"s3://b/code.tar.gz\"", "SM_MODULE_DIR", "s3://b/code.tar.gz" },
        { "sagemaker_container_log_level", "10", "SM_LOG_LEVEL", "10" },
        { "sagemaker_pytorch_ddp_enabled", "true", "SM_FRAMEWORK_PARAMS", "{\"sagemaker_pytorch_ddp_enabled\":true}" },
        { "sagemaker_pytorch_ddp_enabled", "true", "SM_DISTRIBUTION_INSTANCE_GROUPS", "[\"homogeneousCluster\"]" },
        { "sagemaker_pytorch_ddp_enabled", "false", "SM_DISTRIBUTION_INSTANCE_GROUPS", "[]" },
        { "sagemaker_region", "\"eu-west-1\"", "SM_FRAMEWORK_PARAMS", "{}" },
        { "sagemaker_program", "\"train.py\"", "SM_HPS", "{\"epochs\":3,\"learning-rate\":0.1}" },
        { "_tuning_objective_metric", "\"loss\"", "SM_USER_ARGS", "[\"--epochs\",\"3\",\"--learning-rate\",\"0.1\"]" },
    };

    [Theory]
    [MemberData(nameof(ToolkitHyperParameters))]
    public void Sagemaker_hyperparameters_are_the_toolkits_not_the_scripts(string name, string value, string variable, string expected)
    {
        var job = Job with { HyperParameters = new Dictionary<string, string>(Job.HyperParameters) { [name] = value } };
        var env = Env(job);
        Assert.Equal(expected, env[variable]);
        Assert.DoesNotContain(ContainerContract.EnvironmentName("hp_" + name), env.Keys);
    }

    [Fact]
    public void Entry_point_and_framework_module_follow_the_jobs_environment_as_the_toolkit_reads_them()
    {
        var job = Job with { Environment = new Dictionary<string, string> { ["SAGEMAKER_PROGRAM"] = "main.py", ["SAGEMAKER_TRAINING_MODULE"] = "sagemaker_pytorch_container.training:main" } };
        var env = Env(job);
        Assert.Equal(("main.py", "main", "sagemaker_pytorch_container.training:main"), (env["SM_USER_ENTRY_POINT"], env["SM_MODULE_NAME"], env["SM_FRAMEWORK_MODULE"]));
    }

    [Fact]
    public void Root_override_moves_every_path()
    {
        var env = Env(replica: Second with { Root = "/tmp/pod-1/" });
        Assert.Equal("/tmp/pod-1/model", env["SM_MODEL_DIR"]);
        Assert.Equal("/tmp/pod-1/input/data/train", env["SM_CHANNEL_TRAIN"]);
        Assert.Equal("/tmp/pod-1/", env["FERRY_OPT_ML"]);
        Assert.DoesNotContain(env.Values, v => v.Contains("/opt/ml", StringComparison.Ordinal));
    }

    [Fact]
    public void Master_address_and_port_can_differ_from_the_host_names()
    {
        var env = Env(replica: Second with { MasterAddress = "127.0.0.1", MasterPort = 40000 });
        Assert.Equal("127.0.0.1", env["MASTER_ADDR"]);
        Assert.Equal("40000", env["MASTER_PORT"]);
        Assert.Equal("[\"algo-1\",\"algo-2\"]", env["SM_HOSTS"]);
    }

    [Fact]
    public void A_user_env_value_replaces_a_contract_value_in_place()
    {
        var job = Job with { Environment = new Dictionary<string, string> { ["MASTER_PORT"] = "23456" } };
        var list = ContainerContract.Environment(job, Second);
        Assert.Single(list, p => p.Key == "MASTER_PORT");
        Assert.Equal("23456", list.Single(p => p.Key == "MASTER_PORT").Value);
    }

    [Fact]
    public void Files_are_the_three_config_files_with_sagemakers_content()
    {
        var files = ContainerContract.Files(Job, Second).ToDictionary(f => f.RelativePath, f => f.Content);
        Assert.Equal(
            ["input/config/hyperparameters.json", "input/config/inputdataconfig.json", "input/config/resourceconfig.json"],
            files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("{\"epochs\":\"3\",\"learning-rate\":\"0.1\"}", files["input/config/hyperparameters.json"]);
        var resource = JsonNode.Parse(files["input/config/resourceconfig.json"])!;
        Assert.Equal(["current_group_name", "current_host", "current_instance_type", "hosts", "instance_groups", "network_interface_name"],
            resource.AsObject().Select(p => p.Key));
        Assert.Equal(("algo-2", "ml.p4d.24xlarge", "homogeneousCluster", "eth0"),
            ((string?)resource["current_host"], (string?)resource["current_instance_type"], (string?)resource["current_group_name"], (string?)resource["network_interface_name"]));
        Assert.Equal("[\"algo-1\",\"algo-2\"]", resource["hosts"]!.ToJsonString());
        Assert.Equal("[{\"hosts\":[\"algo-1\",\"algo-2\"],\"instance_group_name\":\"homogeneousCluster\",\"instance_type\":\"ml.p4d.24xlarge\"}]", resource["instance_groups"]!.ToJsonString());
        var data = JsonNode.Parse(files["input/config/inputdataconfig.json"])!;
        Assert.Equal("File", (string?)data["train"]!["TrainingInputMode"]);
        Assert.Equal("ShardedByS3Key", (string?)data["train"]!["S3DistributionType"]);
        Assert.Equal("None", (string?)data["train"]!["RecordWrapperType"]);
        Assert.Equal("FullyReplicated", (string?)data["test"]!["S3DistributionType"]);
        Assert.Equal("local", (string?)JsonNode.Parse(ContainerContract.Files(Job with { InstanceType = null }, Second)[1].Content)!["current_instance_type"]);
    }

    [Fact]
    public void Directories_are_sagemakers_layout()
    {
        Assert.Equal(
            ["input/config", "input/data", "input/data/train", "input/data/test", "model", "output/data", "output/intermediate", "checkpoints"],
            ContainerContract.Directories(Job));
        Assert.Equal("output/failure", ContainerContract.FailureFile);
    }

    [Fact]
    public async Task Writer_creates_the_layout_and_files_under_the_root()
    {
        var root = Directory.CreateTempSubdirectory("ferry-contract-").FullName;
        try
        {
            await ContractWriter.WriteAsync(Job, Second with { Root = root }, CancellationToken.None);
            foreach (var directory in ContainerContract.Directories(Job))
            {
                Assert.True(Directory.Exists(Path.Combine(root, directory)), directory);
            }

            Assert.Equal("{\"epochs\":\"3\",\"learning-rate\":\"0.1\"}", await File.ReadAllTextAsync(Path.Combine(root, "input/config/hyperparameters.json")));
            Assert.False(File.Exists(Path.Combine(root, "output/failure")));
            Assert.True(Directory.Exists(Path.Combine(root, "output")));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Theory]
    [InlineData(0, "algo-1")]
    [InlineData(9, "algo-10")]
    public void Host_names_are_algo_one_based(int index, string expected) => Assert.Equal(expected, ContainerContract.HostName(index));

    [Fact]
    public void Mismatched_hosts_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ContainerContract.Environment(Job, Second with { Hosts = ["algo-1"] }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ContainerContract.Environment(Job, Second with { Index = 2 }));
    }
}
