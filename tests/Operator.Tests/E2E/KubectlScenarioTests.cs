using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Ferry.Operator.Tests.E2E;

/// <summary>
/// Runs scripts/e2e.sh (what `make e2e` runs): the Kubernetes API emulator with its simulated kubelet, the real
/// `ferry operator` process and the real kubectl applying the CRD and the InCluster sample, then waiting for Complete.
/// The script runs the outputs of this test run's build configuration.
/// </summary>
public sealed partial class KubectlScenarioTests
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task SampleJobCompletesThroughKubectlAndTheOperatorProcess()
    {
        var (exitCode, output) = await RunAsync(
            "bash",
            [Path.Combine(RepositoryRoot, "scripts", "e2e.sh")],
            new Dictionary<string, string>
            {
                ["FERRY_E2E_NO_BUILD"] = "1",
                ["CONFIGURATION"] = BuildConfiguration,
            });

        Assert.True(exitCode == 0, $"scripts/e2e.sh exited {exitCode}:\n{output}");
        var job = JobCreated().Match(output);
        Assert.True(job.Success, $"no 'trainingjob.ferry.dev/NAME created' line from kubectl apply:\n{output}");
        var name = job.Groups["name"].Value;

        // kubectl wait reports the condition, and the printer columns show the final phase after it.
        var afterWait = output[output.IndexOf("kubectl wait --for=condition=Complete", StringComparison.Ordinal)..];
        Assert.Contains($"trainingjob.ferry.dev/{name} condition met", afterWait, StringComparison.Ordinal);
        Assert.Matches(new Regex($@"(?m)^{Regex.Escape(name)}\s+InCluster\s+Succeeded\s+2\s"), afterWait);
        Assert.Matches(new Regex($@"(?m)^{Regex.Escape(name)}-0\s+0/1\s+Succeeded\s"), afterWait);
        Assert.Matches(new Regex($@"(?m)^{Regex.Escape(name)}-1\s+0/1\s+Succeeded\s"), afterWait);
        Assert.Matches(new Regex($@"(?m)\sNormal\s+Succeeded\s+{Regex.Escape(name)}\s+All 2 replicas succeeded"), afterWait);
        Assert.Contains($"e2e passed: trainingjob.ferry.dev/{name} Complete, phase Succeeded", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmulatorRefusesAKubeletRunTimeThatIsNotANumber()
    {
        var emulator = Path.Combine(RepositoryRoot, "tests", "KubeEmulator", "bin", BuildConfiguration, "net10.0", "Ferry.KubeEmulator.dll");
        var (exitCode, output) = await RunAsync("dotnet", [emulator, "--kubelet-run-seconds", "soon"], new Dictionary<string, string>());

        Assert.Equal(2, exitCode);
        Assert.Contains("--kubelet-run-seconds needs a number of seconds", output, StringComparison.Ordinal);
    }

    /// <summary>The repository root: the nearest parent of the test output holding Operator.sln.</summary>
    private static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException($"Operator.sln not found above {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>This run's configuration, from the output path (bin/CONFIGURATION/net10.0/).</summary>
    private static string BuildConfiguration =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] arguments, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryRoot,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(ScriptTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // The whole tree: the script's emulator and operator run in their own process groups.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"{file} {string.Join(' ', arguments)} did not finish within {ScriptTimeout}:\n{Snapshot()}");
        }

        return (process.ExitCode, Snapshot());

        void Append(string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }

        string Snapshot()
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    [GeneratedRegex(@"(?m)^trainingjob\.ferry\.dev/(?<name>[a-z0-9.-]+) created$")]
    private static partial Regex JobCreated();
}
