using System.Globalization;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Agent;

/// <summary>
/// Per-container settings of the agent, from environment variables:
/// `FERRY_REPLICA_INDEX` (0), `FERRY_OPT_ML` (/opt/ml), `FERRY_TERMINATION_LOG` (/dev/termination-log),
/// `FERRY_STOP_GRACE_SECONDS` (30: time the training process gets between SIGTERM and SIGKILL),
/// `FERRY_CHECKPOINT_SYNC_SECONDS` (60: how often new checkpoint files are uploaded while training runs),
/// `FERRY_ATTEMPT` (1: the job's attempt this replica belongs to; its log is copied under `attempt-N/`),
/// and for rank 0's live metric endpoint `FERRY_POD_IP` (the address it binds; the downward API's `status.podIP`),
/// `FERRY_METRICS_PORT` (9401), `FERRY_JOB_UID` and `FERRY_POD_UID` (the identity it answers with).
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
    public const string PodIpVariable = "FERRY_POD_IP";
    public const string PodUidVariable = "FERRY_POD_UID";
    public const string JobUidVariable = "FERRY_JOB_UID";
    public const string MetricsPortVariable = "FERRY_METRICS_PORT";

    /// <summary>The address rank 0 serves its live metrics on (the pod IP), or null: no endpoint.</summary>
    public string? MetricsAddress { get; init; }

    /// <summary>The port of the live metric endpoint.</summary>
    public int MetricsPort { get; init; } = LiveMetricsServer.DefaultPort;

    /// <summary>The TrainingJob's uid the endpoint answers with.</summary>
    public string? JobUid { get; init; }

    /// <summary>This pod's uid the endpoint answers with.</summary>
    public string? PodUid { get; init; }
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
            Math.Max(1, Integer(getVariable, AttemptVariable, 1)))
        {
            MetricsAddress = getVariable(PodIpVariable) is { Length: > 0 } ip ? ip : null,
            MetricsPort = Integer(getVariable, MetricsPortVariable, LiveMetricsServer.DefaultPort),
            JobUid = getVariable(JobUidVariable) is { Length: > 0 } jobUid ? jobUid : null,
            PodUid = getVariable(PodUidVariable) is { Length: > 0 } podUid ? podUid : null,
        };
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
