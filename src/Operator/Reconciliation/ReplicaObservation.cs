namespace Ferry.Operator.Reconciliation;

/// <summary>The state of one replica as a backend observed it (for pods: the pod phase).</summary>
public enum ReplicaState
{
    /// <summary>Created but not running yet (scheduling, pulling, downloading inputs).</summary>
    Pending,

    /// <summary>The training process runs.</summary>
    Running,

    /// <summary>The training process exited 0.</summary>
    Succeeded,

    /// <summary>The replica failed (non-zero exit, init failure, eviction, lost node).</summary>
    Failed,
}

/// <summary>
/// One replica of one attempt as the backend sees it right now: the input of the pure status function.
/// Backends translate their children (pods, processes) into these.
/// </summary>
/// <param name="Name">The child's name (pod `&lt;job&gt;-&lt;index&gt;`), used to delete it.</param>
/// <param name="Index">Replica index (0-based).</param>
/// <param name="Attempt">Attempt the child belongs to (label `ferry.dev/attempt`).</param>
/// <param name="State">Current state.</param>
/// <param name="Terminating">Deletion was requested and the child is still going away.</param>
/// <param name="StartedAt">When the training process started, if it did.</param>
/// <param name="ExitCode">Exit code once finished.</param>
/// <param name="Message">The termination message (the agent's JSON or plain text) or the backend's failure reason.</param>
public sealed record ReplicaObservation(
    string Name,
    int Index,
    int Attempt,
    ReplicaState State,
    bool Terminating = false,
    DateTime? StartedAt = null,
    int? ExitCode = null,
    string? Message = null)
{
    /// <summary>Pending or running: the replica holds resources.</summary>
    public bool IsActive => State is ReplicaState.Pending or ReplicaState.Running;
}
