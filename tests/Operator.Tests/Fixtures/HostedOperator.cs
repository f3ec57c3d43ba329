using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Runtime.Resources;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>
/// What the tests that run the whole operator host (<c>OperatorHost.Build</c>) against the Kubernetes API emulator
/// share: its settings (one watched namespace, no leader election, a free port) and waiting for a job's phase.
/// </summary>
internal static class HostedOperator
{
    /// <summary>The host's settings for <paramref name="kubeconfig"/>, watching <paramref name="ns"/>, plus <paramref name="extra"/>.</summary>
    public static Dictionary<string, string?> Settings(string kubeconfig, string ns = "default", IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Operator:Kubeconfig"] = kubeconfig,
            ["Operator:Port"] = "0",
            ["Operator:Namespaces:0"] = ns,
            ["Operator:LeaderElection:Enabled"] = "false",
            ["Operator:ShutdownTimeoutSeconds"] = "5",
            ["InCluster:AgentImage"] = "registry.local/ferry:test",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>
    /// Reads the job until it reaches <paramref name="phase"/>: the host runs on the real clock in its own threads, so
    /// this polls the API as a user would, failing with the last phase seen after <paramref name="timeoutSeconds"/>.
    /// </summary>
    public static async Task<TrainingJob> WaitForPhaseAsync(
        KubernetesResourceClient<TrainingJob> jobs, string ns, string name, TrainingJobPhase phase, int timeoutSeconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        TrainingJob? current;
        while ((current = await jobs.GetAsync(ns, name))?.Status?.Phase != phase)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{ns}/{name} did not reach {phase} within {timeoutSeconds}s; phase {current?.Status?.Phase}");
            await Task.Delay(100);
        }

        return current!;
    }
}
