using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Kubelet;

/// <summary>One scripted behaviour: containers of pods whose name matches run for a while, then exit.</summary>
/// <param name="PodNamePattern">Glob on the pod name (<c>*</c> and <c>?</c>), e.g. <c>job-a-*</c>.</param>
/// <param name="ContainerName">Only this container (null: every main container; init containers are matched only by name).</param>
/// <param name="RunFor">How long the container runs (on the kubelet's TimeProvider); null runs until the pod is deleted.</param>
/// <param name="Outcome">How it exits.</param>
public sealed record PodScript(string PodNamePattern, string? ContainerName, TimeSpan? RunFor, ContainerOutcome Outcome)
{
    internal bool Matches(string podName, string containerName, bool isInit) =>
        (isInit ? ContainerName == containerName : ContainerName is null || ContainerName == containerName)
        && Regex.IsMatch(podName, "^" + Regex.Escape(PodNamePattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$");
}

/// <summary>
/// Simulates containers from a script: the first matching <see cref="PodScript"/> decides how long a container runs and how
/// it exits. Init containers without a script naming them succeed at once.
/// </summary>
public sealed class ScriptedPodRuntime(TimeProvider time) : IPodRuntime
{
    private readonly List<PodScript> _scripts = [];
    private readonly Lock _lock = new();

    /// <summary>What containers without a matching script do (default: run until deleted).</summary>
    public PodScript Default { get; set; } = new("*", null, null, new ContainerOutcome(0));

    /// <summary>Adds a script (checked in order, before <see cref="Default"/>).</summary>
    public ScriptedPodRuntime When(string podNamePattern, TimeSpan? runFor, int exitCode, string? message = null, string? containerName = null)
    {
        lock (_lock)
        {
            _scripts.Add(new PodScript(podNamePattern, containerName, runFor, new ContainerOutcome(exitCode, message)));
        }

        return this;
    }

    /// <summary>Containers without a script exit at once with <paramref name="exitCode"/> (the immediate mode).</summary>
    public ScriptedPodRuntime Immediately(int exitCode = 0, string? message = null)
    {
        Default = new PodScript("*", null, TimeSpan.Zero, new ContainerOutcome(exitCode, message));
        return this;
    }

    public void Clear()
    {
        lock (_lock)
        {
            _scripts.Clear();
        }
    }

    public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
    {
        var podName = (string?)pod["metadata"]?["name"] ?? "";
        var containerName = (string?)container["name"] ?? "";
        PodScript script;
        lock (_lock)
        {
            script = _scripts.FirstOrDefault(s => s.Matches(podName, containerName, isInit))
                ?? (isInit ? Default with { RunFor = TimeSpan.Zero, Outcome = new ContainerOutcome(0) } : Default);
        }

        if (script.RunFor is null)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, time, cancellationToken);
        }
        else if (script.RunFor > TimeSpan.Zero)
        {
            await Task.Delay(script.RunFor.Value, time, cancellationToken);
        }

        return script.Outcome;
    }
}
