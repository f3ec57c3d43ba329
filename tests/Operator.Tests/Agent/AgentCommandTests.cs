using System.Diagnostics;
using Ferry.Operator.Agent;

namespace Ferry.Operator.Tests.Agent;

/// <summary>The `ferry agent` command as a real process (`dotnet ferry.dll agent …`), receiving a real SIGTERM.</summary>
public sealed class AgentCommandTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("ferry-agent-cli-").FullName;

    public void Dispose() => Directory.Delete(_scratch, true);

    private Process Start(string root, string terminationLog, int graceSeconds, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferry.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var job = new AgentJob("cli", 1, 0, 1, new Dictionary<string, string>(), [], null, null, []);
        start.Environment[AgentJob.Variable] = job.Serialize();
        start.Environment["FERRY_OPT_ML"] = root;
        start.Environment[AgentSettings.TerminationLogVariable] = terminationLog;
        start.Environment[AgentSettings.StopGraceVariable] = graceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(start)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    [Fact]
    public async Task Sigterm_to_the_agent_is_forwarded_and_a_stubborn_child_is_killed_after_the_grace_period()
    {
        var root = Path.Combine(_scratch, "opt-ml");
        var log = Path.Combine(_scratch, "termination-log");
        var marker = Path.Combine(_scratch, "started");
        var script = Path.Combine(_scratch, "stubborn.sh");
        await File.WriteAllTextAsync(script, $"trap 'echo term >> {_scratch}/terms' TERM\ntouch {marker}\nwhile true; do sleep 0.1; done\n");

        using var agent = Start(root, log, 3, "agent", "exec", "--", "sh", script);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(marker))
        {
            Assert.True(DateTime.UtcNow < deadline && !agent.HasExited, "the training process did not start");
            await Task.Delay(50);
        }

        var clock = Stopwatch.StartNew();
        Assert.Equal(0, Kill(agent.Id));
        await agent.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        // System.CommandLine would end the process about 2 s after SIGTERM; the agent keeps control for its own grace.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.8), $"exited {clock.Elapsed} after SIGTERM, before the 3 s grace period");
        Assert.Equal(137, agent.ExitCode);
        Assert.Contains("term", await File.ReadAllTextAsync(Path.Combine(_scratch, "terms")), StringComparison.Ordinal);
        var message = TerminationMessage.Parse(await File.ReadAllTextAsync(log), -1)!;
        Assert.Equal(137, message.ExitCode);
        Assert.Contains("was stopped", message.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_without_ferry_job_explains_what_is_missing()
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferry.dll"));
        foreach (var argument in new[] { "agent", "exec", "--", "true" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove(AgentJob.Variable);
        using var agent = Process.Start(start)!;
        var error = await agent.StandardError.ReadToEndAsync();
        await agent.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, agent.ExitCode);
        Assert.Contains("FERRY_JOB is not set", error, StringComparison.Ordinal);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
#pragma warning disable SYSLIB1054
    private static extern int Kill(int processId, int signal = 15);
#pragma warning restore SYSLIB1054
}
