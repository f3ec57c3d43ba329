using System.CommandLine;

namespace Ferry.Operator.Cli;

/// <summary>The `run` command (not available yet).</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var command = new Command("run", "Not available yet.");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("ferry run: not available yet.");
            return 2;
        });
        return command;
    }
}
