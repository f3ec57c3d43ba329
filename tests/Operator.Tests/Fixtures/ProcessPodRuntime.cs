using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Agent;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>
/// The simulated kubelet's "process mode": runs a pod's init and main containers as local processes, from the pod
/// spec the InCluster backend built. The operator image's `ferry` is the `ferry.dll` next to the tests (run with
/// `dotnet`); the training image's commands come from <paramref name="commands"/> (e.g. `train` → a shell script).
/// Each pod gets its own directory standing in for its volumes: `opt-ml` (FERRY_OPT_ML) and `agent` (the
/// `/ferry/agent` volume the init container installs the agent into, from which the main container runs it).
/// Exit codes and termination messages go back to the kubelet, which reports them in the pod status.
/// </summary>
public sealed class ProcessPodRuntime(string workDirectory, IReadOnlyDictionary<string, string> commands, IReadOnlyDictionary<string, string> environment) : IPodRuntime
{
    private static readonly string OperatorDll = Path.Combine(AppContext.BaseDirectory, "ferry.dll");

    /// <summary>Standard output and error of every container run, for diagnostics.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Logs { get; } = new();

    public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
    {
        var podName = (string)pod["metadata"]!["name"]!;
        var uid = (string)pod["metadata"]!["uid"]!;
        var containerName = (string)container["name"]!;
        var podDirectory = Path.Combine(workDirectory, $"{podName}-{uid[..8]}");
        var optMl = Path.Combine(podDirectory, "opt-ml");
        var agentDirectory = Path.Combine(podDirectory, "agent");
        Directory.CreateDirectory(optMl);
        Directory.CreateDirectory(agentDirectory);
        var terminationLog = Path.Combine(podDirectory, containerName + ".termination-log");

        var command = (container["command"] as JsonArray ?? []).Select(c => (string)c!).ToList();
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(command[0] == InClusterPodBuilder.AgentMountPath + "/ferry" ? Path.Combine(agentDirectory, "ferry.dll") : OperatorDll);
        foreach (var argument in command.Skip(1))
        {
            var mapped = argument == InClusterPodBuilder.AgentMountPath ? agentDirectory : argument;
            start.ArgumentList.Add(commands.TryGetValue(mapped, out var local) ? local : mapped);
        }

        foreach (var variable in (container["env"] as JsonArray ?? []).OfType<JsonObject>())
        {
            // The downward API's fields, as the kubelet resolves them.
            var value = variable["valueFrom"]?["fieldRef"]?["fieldPath"]?.GetValue<string>() switch
            {
                "status.podIP" => (string?)pod["status"]?["podIP"],
                "metadata.uid" => uid,
                "metadata.name" => podName,
                "metadata.namespace" => (string?)pod["metadata"]!["namespace"],
                _ => (string?)variable["value"],
            };
            start.Environment[(string)variable["name"]!] = value ?? "";
        }

        start.Environment[ContainerContract.RootVariable] = optMl;
        start.Environment[AgentSettings.TerminationLogVariable] = terminationLog;
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Log(podName, containerName, e.Data);
        process.ErrorDataReceived += (_, e) => Log(podName, containerName, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // As the kubelet stops a container: SIGTERM, then SIGKILL after the grace period (shortened here).
            ProcessSignals.Terminate(process.Id);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }

            throw;
        }

        var message = File.Exists(terminationLog) ? await File.ReadAllTextAsync(terminationLog, CancellationToken.None) : null;
        return new ContainerOutcome(process.ExitCode, message);
    }

    private void Log(string pod, string container, string? line)
    {
        if (line is not null)
        {
            Logs.Enqueue($"{pod}/{container}: {line}");
        }
    }
}
