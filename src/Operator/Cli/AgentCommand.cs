using System.CommandLine;

namespace Ferry.Operator.Cli;

/// <summary>The `agent` command (not available yet).</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var command = new Command("agent", "Not available yet.");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("ferry agent: not available yet.");
            return 2;
        });
        return command;
    }
}
