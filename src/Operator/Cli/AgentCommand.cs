using System.CommandLine;
using Ferry.Operator.Agent;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Cli;

/// <summary>
/// `ferry agent init` and `ferry agent exec -- &lt;command&gt; [args]`: the in-container side of the contract
/// (see <see cref="AgentInit"/> and <see cref="AgentExec"/>). Both read `FERRY_JOB`, `FERRY_REPLICA_INDEX`
/// and `FERRY_OPT_ML` from the environment.
/// </summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var command = new Command("agent", "Runs inside a training pod: prepares /opt/ml (init) and wraps the training process (exec).");

        var installTo = new Option<string?>("--install-to")
        {
            Description = "First copy this program's files into the directory (a volume the training container mounts).",
        };
        var init = new Command("init", "Write the contract files, download the input channels (sharded per replica) and the checkpoints.");
        init.Options.Add(installTo);
        // Synchronous actions: System.CommandLine would otherwise end the process a fixed time after SIGTERM.
        init.SetAction(parse => RunInit(parse.GetValue(installTo)));

        var process = new Argument<string[]>("command")
        {
            Description = "The training command and its arguments, after `--` (default: train).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var exec = new Command("exec", "Run the training process, then upload checkpoints and the model and write the termination message.");
        exec.Arguments.Add(process);
        exec.SetAction(parse => RunExec(parse.GetValue(process) ?? []));

        command.Subcommands.Add(init);
        command.Subcommands.Add(exec);
        return command;
    }

    private static int RunInit(string? installTo)
    {
        try
        {
            if (!string.IsNullOrEmpty(installTo))
            {
                var copied = AgentInit.InstallSelf(installTo);
                Console.Out.WriteLine($"ferry agent: installed {copied} files into {installTo}");
            }

            var job = ReadJob();
            var settings = AgentSettings.FromEnvironment();
            using var stores = ObjectStoreFactory.FromEnvironment();
            using var stop = new InterruptSignal();
            return new AgentInit(stores, Console.Out).RunAsync(job, settings, stop.Token).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is FormatException or ArgumentException or IOException or Amazon.Runtime.AmazonServiceException or OperationCanceledException)
        {
            Console.Error.WriteLine("ferry agent init: " + e.Message);
            WriteTerminationMessage(e.Message);
            return 1;
        }
    }

    private static int RunExec(string[] arguments)
    {
        try
        {
            var job = ReadJob();
            var settings = AgentSettings.FromEnvironment();
            using var stores = ObjectStoreFactory.FromEnvironment();
            using var stop = new InterruptSignal();
            return new AgentExec(stores, Console.Out, Console.Error, TimeProvider.System)
                .RunAsync(job, settings, arguments, stop.Token).GetAwaiter().GetResult();
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine("ferry agent exec: " + e.Message);
            return 1;
        }
    }

    /// <summary>Leaves the init failure where the kubelet reports it (the pod status), so it reaches the job's failureReason.</summary>
    private static void WriteTerminationMessage(string message)
    {
        var path = Environment.GetEnvironmentVariable(AgentSettings.TerminationLogVariable) is { Length: > 0 } configured
            ? configured
            : AgentSettings.DefaultTerminationMessagePath;
        try
        {
            File.WriteAllText(path, message.Length <= TerminationMessage.FailureReasonBytes ? message : message[..TerminationMessage.FailureReasonBytes]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"ferry agent init: cannot write {path}: {e.Message}");
        }
    }

    private static AgentJob ReadJob()
    {
        var json = Environment.GetEnvironmentVariable(AgentJob.Variable);
        return string.IsNullOrWhiteSpace(json)
            ? throw new FormatException($"{AgentJob.Variable} is not set; the agent runs in pods the Ferry operator creates, which set it.")
            : AgentJob.Deserialize(json);
    }
}
