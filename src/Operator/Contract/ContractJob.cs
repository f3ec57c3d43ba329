namespace Ferry.Operator.Contract;

/// <summary>One input channel as the training process sees it: its name and how its objects are spread over replicas.</summary>
/// <param name="Name">Channel name (`train`, `test`, …); becomes `input/data/&lt;name&gt;` and `SM_CHANNEL_&lt;NAME&gt;`.</param>
/// <param name="Distribution">`FullyReplicated` or `ShardedByS3Key` (SageMaker's S3DistributionType).</param>
public sealed record ContractChannel(string Name, string Distribution);

/// <summary>
/// The backend-neutral description of a training job that the container contract is built from.
/// Every backend (InCluster pods, Local processes, the agent) maps its job to this record so that the
/// training process sees exactly the same files and variables everywhere.
/// </summary>
/// <param name="JobName">The TrainingJob's name (SageMaker's `job_name`).</param>
/// <param name="Replicas">Number of replicas (hosts) N ≥ 1.</param>
/// <param name="GpusPerReplica">GPUs per replica (0 = CPU); `SM_NUM_GPUS`.</param>
/// <param name="CpusPerReplica">CPUs per replica as the process should assume; `SM_NUM_CPUS`.</param>
/// <param name="HyperParameters">Hyperparameters (string → string), written as-is.</param>
/// <param name="Channels">Input channels in spec order.</param>
/// <param name="Environment">The job's `env` map; applied after the contract variables, so a user value wins.</param>
/// <param name="InstanceType">SageMaker instance type if set (`SM_CURRENT_INSTANCE_TYPE`); `local` otherwise.</param>
public sealed record ContractJob(
    string JobName,
    int Replicas,
    int GpusPerReplica,
    int CpusPerReplica,
    IReadOnlyDictionary<string, string> HyperParameters,
    IReadOnlyList<ContractChannel> Channels,
    IReadOnlyDictionary<string, string> Environment,
    string? InstanceType = null);

/// <summary>Where replica <paramref name="Index"/> runs and how it reaches its peers.</summary>
/// <param name="Index">Zero-based replica index (torchrun's RANK / NODE_RANK).</param>
/// <param name="Root">The directory standing in for `/opt/ml` (`FERRY_OPT_ML`).</param>
/// <param name="Hosts">Host names of all replicas in rank order; SageMaker's `algo-1..N` unless a backend needs other names.</param>
/// <param name="MasterAddress">Address of replica 0 for torchrun (`MASTER_ADDR`); defaults to <c>Hosts[0]</c>.</param>
/// <param name="MasterPort">`MASTER_PORT` (29500 by default, as torchrun).</param>
/// <param name="NetworkInterfaceName">`SM_NETWORK_INTERFACE_NAME` (`eth0` in a container).</param>
public sealed record ContractReplica(
    int Index,
    string Root,
    IReadOnlyList<string> Hosts,
    string? MasterAddress = null,
    int MasterPort = ContainerContract.DefaultMasterPort,
    string NetworkInterfaceName = ContainerContract.DefaultNetworkInterface);

/// <summary>A file the contract places under the root: path relative to the root, and its text.</summary>
public sealed record ContractFile(string RelativePath, string Content);
