using System.Globalization;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Agent;

/// <summary>
/// Per-container settings of the agent, from environment variables:
/// `FERRY_REPLICA_INDEX` (0), `FERRY_OPT_ML` (/opt/ml), `FERRY_TERMINATION_LOG` (/dev/termination-log),
/// `FERRY_STOP_GRACE_SECONDS` (30: time the training process gets between SIGTERM and SIGKILL),
/// `FERRY_CHECKPOINT_SYNC_SECONDS` (60: how often new checkpoint files are uploaded while training runs),
/// `FERRY_ATTEMPT` (1: the job's attempt this replica belongs to; its log is copied under `attempt-N/`).
/// Host names come from `SM_HOSTS` / `MASTER_ADDR` / `MASTER_PORT` when the container has them, else `algo-1..N`
/// and port 29500.
/// </summary>
public sealed record AgentSettings(
    int ReplicaIndex,
    string Root,
    string TerminationMessagePath,
    TimeSpan StopGracePeriod,
    TimeSpan CheckpointSyncInterval,
    IReadOnlyList<string>? Hosts = null,
    string? MasterAddress = null,
    int MasterPort = ContainerContract.DefaultMasterPort,
    int Attempt = 1)
{
    public const string AttemptVariable = "FERRY_ATTEMPT";
    public const string ReplicaIndexVariable = "FERRY_REPLICA_INDEX";
    public const string TerminationLogVariable = "FERRY_TERMINATION_LOG";
    public const string StopGraceVariable = "FERRY_STOP_GRACE_SECONDS";
    public const string CheckpointSyncVariable = "FERRY_CHECKPOINT_SYNC_SECONDS";
    public const string DefaultTerminationMessagePath = "/dev/termination-log";

    /// <summary>Reads the settings; errors name the variable.</summary>
    public static AgentSettings FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        var hostsJson = getVariable("SM_HOSTS");
        IReadOnlyList<string>? hosts = string.IsNullOrWhiteSpace(hostsJson)
            ? null
            : System.Text.Json.JsonSerializer.Deserialize<string[]>(hostsJson);
        return new AgentSettings(
            Integer(getVariable, ReplicaIndexVariable, 0),
            ContainerContract.RootFromEnvironment(getVariable),
            getVariable(TerminationLogVariable) is { Length: > 0 } path ? path : DefaultTerminationMessagePath,
            TimeSpan.FromSeconds(Integer(getVariable, StopGraceVariable, 30)),
            TimeSpan.FromSeconds(Integer(getVariable, CheckpointSyncVariable, 60)),
            hosts,
            getVariable("MASTER_ADDR") is { Length: > 0 } master ? master : null,
            Integer(getVariable, "MASTER_PORT", ContainerContract.DefaultMasterPort),
            Math.Max(1, Integer(getVariable, AttemptVariable, 1)));
    }

    /// <summary>The contract replica this container is.</summary>
    public ContractReplica ToContractReplica(AgentJob job) => new(
        ReplicaIndex,
        Root,
        Hosts ?? ContainerContract.HostNames(job.Replicas),
        MasterAddress,
        MasterPort);

    private static int Integer(Func<string, string?> getVariable, string name, int fallback)
    {
        var value = getVariable(name);
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        return int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) && parsed >= 0
            ? parsed
            : throw new FormatException($"{name} is '{value}'; set it to a non-negative whole number.");
    }
}
