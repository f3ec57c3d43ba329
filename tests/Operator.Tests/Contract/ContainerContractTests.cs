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

    [Theory]
    [InlineData("SM_MODEL_DIR", "/opt/ml/model")]
    [InlineData("SM_CHANNELS", "[\"train\",\"test\"]")]
    [InlineData("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")]
    [InlineData("SM_CHANNEL_TEST", "/opt/ml/input/data/test")]
    [InlineData("SM_HPS", "{\"epochs\":\"3\",\"learning-rate\":\"0.1\"}")]
    [InlineData("SM_HP_EPOCHS", "3")]
    [InlineData("SM_HP_LEARNING-RATE", "0.1")]
    [InlineData("SM_HOSTS", "[\"algo-1\",\"algo-2\"]")]
    [InlineData("SM_CURRENT_HOST", "algo-2")]
    [InlineData("SM_CURRENT_INSTANCE_TYPE", "ml.p4d.24xlarge")]
    [InlineData("SM_NUM_GPUS", "4")]
    [InlineData("SM_NUM_CPUS", "8")]
    [InlineData("SM_NUM_NEURONS", "0")]
    [InlineData("SM_LOG_LEVEL", "20")]
    [InlineData("SM_NETWORK_INTERFACE_NAME", "eth0")]
    [InlineData("SM_USER_ARGS", "[\"--epochs\",\"3\",\"--learning-rate\",\"0.1\"]")]
    [InlineData("SM_USER_ENTRY_POINT", "train")]
    [InlineData("SM_MODULE_NAME", "train")]
    [InlineData("SM_MODULE_DIR", "")]
    [InlineData("SM_FRAMEWORK_MODULE", "")]
    [InlineData("SM_FRAMEWORK_PARAMS", "{}")]
    [InlineData("SM_INPUT_DIR", "/opt/ml/input")]
    [InlineData("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")]
    [InlineData("SM_OUTPUT_DIR", "/opt/ml/output")]
    [InlineData("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")]
    [InlineData("SM_OUTPUT_INTERMEDIATE_DIR", "/opt/ml/output/intermediate")]
    [InlineData("SM_INPUT_DATA_CONFIG", "{\"train\":{\"TrainingInputMode\":\"File\",\"S3DistributionType\":\"ShardedByS3Key\",\"RecordWrapperType\":\"None\"},\"test\":{\"TrainingInputMode\":\"File\",\"S3DistributionType\":\"FullyReplicated\",\"RecordWrapperType\":\"None\"}}")]
    [InlineData("SM_RESOURCE_CONFIG", "{\"current_host\":\"algo-2\",\"hosts\":[\"algo-1\",\"algo-2\"],\"network_interface_name\":\"eth0\"}")]
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
    public void Training_env_summarises_the_contract_with_the_toolkits_keys()
    {
        var training = JsonNode.Parse(Env()["SM_TRAINING_ENV"])!.AsObject();
        Assert.Equal(
            ["additional_framework_parameters", "channel_input_dirs", "current_host", "current_instance_type", "framework_module", "hosts",
             "hyperparameters", "input_config_dir", "input_data_config", "input_dir", "is_master", "job_name", "log_level", "master_hostname",
             "model_dir", "module_dir", "module_name", "network_interface_name", "num_cpus", "num_gpus", "num_neurons", "output_data_dir",
             "output_dir", "output_intermediate_dir", "resource_config", "user_args", "user_entry_point"],
            training.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal("algo-2", (string?)training["current_host"]);
        Assert.False((bool)training["is_master"]!);
        Assert.Equal("mnist", (string?)training["job_name"]);
        Assert.Equal("/opt/ml/input/data/train", (string?)training["channel_input_dirs"]!["train"]);
        Assert.Equal(4, (int)training["num_gpus"]!);
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
        Assert.Equal("{\"current_host\":\"algo-2\",\"hosts\":[\"algo-1\",\"algo-2\"],\"network_interface_name\":\"eth0\"}", files["input/config/resourceconfig.json"]);
        var data = JsonNode.Parse(files["input/config/inputdataconfig.json"])!;
        Assert.Equal("File", (string?)data["train"]!["TrainingInputMode"]);
        Assert.Equal("ShardedByS3Key", (string?)data["train"]!["S3DistributionType"]);
        Assert.Equal("None", (string?)data["train"]!["RecordWrapperType"]);
        Assert.Equal("FullyReplicated", (string?)data["test"]!["S3DistributionType"]);
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
