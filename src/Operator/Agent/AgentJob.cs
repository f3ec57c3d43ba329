using System.Text.Json;
using System.Text.Json.Serialization;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Agent;

/// <summary>An input channel as the agent downloads it.</summary>
public sealed record AgentChannel(string Name, string Uri, string Distribution = ContainerContract.FullyReplicated);

/// <summary>A metric the agent extracts from the training output: the first capture group of <paramref name="Regex"/>, parsed as a float.</summary>
public sealed record AgentMetricDefinition(string Name, string Regex);

/// <summary>
/// What the agent needs to know about its job. A backend passes it to the agent as JSON in the
/// `FERRY_JOB` environment variable (camelCase, <see cref="Serialize"/>), together with
/// `FERRY_REPLICA_INDEX`; the contract variables (`SM_*`, torchrun) are set on the container directly.
/// This record, not the TrainingJob spec, is the agent's input so that the agent stays independent of the API version.
/// </summary>
public sealed record AgentJob(
    string JobName,
    int Replicas,
    int GpusPerReplica,
    int CpusPerReplica,
    IReadOnlyDictionary<string, string> HyperParameters,
    IReadOnlyList<AgentChannel> Inputs,
    string? OutputUri,
    string? CheckpointUri,
    IReadOnlyList<AgentMetricDefinition> MetricDefinitions,
    IReadOnlyDictionary<string, string>? Environment = null,
    string? InstanceType = null,
    AgentReportContext? Report = null)
{
    /// <summary>The environment variable that carries this record as JSON.</summary>
    public const string Variable = "FERRY_JOB";

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The contract view of this job.</summary>
    public ContractJob ToContractJob() => new(
        JobName,
        Replicas,
        GpusPerReplica,
        CpusPerReplica,
        HyperParameters,
        [.. Inputs.Select(i => new ContractChannel(i.Name, i.Distribution))],
        Environment ?? new Dictionary<string, string>(),
        InstanceType);

    /// <summary>Compact JSON for `FERRY_JOB`.</summary>
    public string Serialize() => JsonSerializer.Serialize(this, Options);

    /// <summary>Parses `FERRY_JOB`; the message says what is wrong and where it comes from.</summary>
    public static AgentJob Deserialize(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<AgentJob>(json, Options)
                ?? throw new FormatException($"{Variable} is 'null'; the operator sets it to the job description JSON.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{Variable} is not valid job JSON ({e.Message}); the operator sets it, do not override it in spec.env.", e);
        }
    }
}
