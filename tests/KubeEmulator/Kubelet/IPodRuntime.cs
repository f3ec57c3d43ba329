using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Kubelet;

/// <summary>How one container run ended.</summary>
/// <param name="ExitCode">The process exit code (0 = success).</param>
/// <param name="Message">The termination message (what the container wrote to its terminationMessagePath).</param>
/// <param name="Reason">The terminated reason; defaults to Completed (exit 0) or Error.</param>
public sealed record ContainerOutcome(int ExitCode, string? Message = null, string? Reason = null)
{
    public string EffectiveReason => Reason ?? (ExitCode == 0 ? "Completed" : "Error");
}

/// <summary>
/// Runs a pod's containers for <see cref="SimulatedKubelet"/>. The scripted runtime simulates them on a clock; a process
/// runtime can run them as local processes. The kubelet runs init containers one at a time, then main containers together.
/// </summary>
public interface IPodRuntime
{
    /// <summary>Runs one container until it exits; cancelled when the pod is deleted.</summary>
    /// <param name="pod">The pod as stored when it started.</param>
    /// <param name="container">The container spec (an entry of spec.initContainers or spec.containers).</param>
    /// <param name="isInit">True for init containers.</param>
    /// <param name="cancellationToken">Cancelled when the pod is deleted or the kubelet stops.</param>
    Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken);
}
