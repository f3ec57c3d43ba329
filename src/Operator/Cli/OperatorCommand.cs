using System.CommandLine;

namespace Ferry.Operator.Cli;

/// <summary>The `operator` command (not available yet).</summary>
internal static class OperatorCommand
{
    public static Command Create()
    {
        var command = new Command("operator", "Not available yet.");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("ferry operator: not available yet.");
            return 2;
        });
        return command;
    }
}
