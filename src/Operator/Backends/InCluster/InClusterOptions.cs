using k8s.Models;

namespace Ferry.Operator.Backends.InCluster;

/// <summary>
/// Operator settings for in-cluster training (Helm values → operator configuration).
/// </summary>
public sealed record InClusterOptions
{
    /// <summary>
    /// Image of the agent's init container: the operator image. Its <see cref="AgentPath"/> must be a
    /// self-contained linux-x64 publish of `ferry` (glibc), because the init container copies that whole directory
    /// into a shared volume and the training container runs it from there: a user's image needs no .NET runtime.
    /// </summary>
    public string AgentImage { get; init; } = "ghcr.io/ferry-dev/ferry-operator:0.1.0";

    /// <summary>Path of the `ferry` executable inside <see cref="AgentImage"/>; its directory is what gets copied.</summary>
    public string AgentPath { get; init; } = "/app/ferry";

    /// <summary>The cluster's DNS domain, for the search domain that makes `algo-N` resolve.</summary>
    public string ClusterDomain { get; init; } = "cluster.local";

    /// <summary>Node selector added to every pod of a `spot: true` job (e.g. Karpenter's capacity type).</summary>
    public IReadOnlyDictionary<string, string> SpotNodeSelector { get; init; } =
        new Dictionary<string, string> { ["karpenter.sh/capacity-type"] = "spot" };

    /// <summary>Tolerations added to every pod of a `spot: true` job.</summary>
    public IReadOnlyList<V1Toleration> SpotTolerations { get; init; } = [];

    /// <summary>Time the training process gets between SIGTERM and SIGKILL (the agent forwards SIGTERM).</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the agent uploads new checkpoint files while training runs.</summary>
    public TimeSpan CheckpointSyncInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Port rank 0's agent serves its live metrics on (its pod IP); the operator must reach it (NetworkPolicy).</summary>
    public int LiveMetricsPort { get; init; } = Agent.LiveMetricsServer.DefaultPort;

    /// <summary>How often the operator polls a running job's rank 0 for new metric values (and so at most how often metrics write status).</summary>
    public TimeSpan LiveMetricsInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Extra environment for both agent containers (e.g. `FERRY_S3_ENDPOINT`, `AWS_REGION`).</summary>
    public IReadOnlyDictionary<string, string> AgentEnvironment { get; init; } = new Dictionary<string, string>();
}
