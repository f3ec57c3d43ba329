using System.CommandLine;
using Ferry.Operator.Cli;

var root = new RootCommand("Ferry: runs distributed training as TrainingJob resources on Kubernetes, SageMaker or this machine.");
root.Subcommands.Add(OperatorCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(AgentCommand.Create());
return await root.Parse(args).InvokeAsync();
