using System.CommandLine;
using Ferry.Operator.Cli;

var root = new RootCommand("Ferry: runs distributed training as TrainingJob resources on Kubernetes, SageMaker or this machine.");
root.Subcommands.Add(OperatorCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
root.Subcommands.Add(LogsCommand.Create());
root.Subcommands.Add(ExperimentsCommand.Create());
// Commands stop their own children on Ctrl-C/SIGTERM and then print a final status; do not let the
// parser end the process on a timer before they are done.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
