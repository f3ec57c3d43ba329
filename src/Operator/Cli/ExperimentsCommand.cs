using System.CommandLine;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Cli.Insight;
using Ferry.Operator.Runtime.Resources;

namespace Ferry.Operator.Cli;

/// <summary>
/// `ferry experiments NAME [-n NS | -A]`: the trials of an experiment (TrainingJobs labelled
/// `ferry.dev/experiment=NAME`, which the operator sets from spec.experiment) side by side with their final metrics
/// and hyperparameters (<see cref="ExperimentTable"/>).
/// </summary>
internal static class ExperimentsCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("experiment") { Description = "The experiment's name (spec.experiment.name)." };
        var connection = ConnectionOptions.Create();
        var all = new Option<bool>("--all-namespaces", "-A") { Description = "List the experiment's trials in every namespace." };
        var command = new Command("experiments", "Show an experiment's trials side by side: phase, duration, final metrics and hyperparameters.");
        command.Arguments.Add(name);
        command.Options.Add(all);
        connection.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
            await RunAsync(parse.GetValue(name)!, connection.Read(parse), parse.GetValue(all), Console.Out, Console.Error, cancellationToken));
        return command;
    }

    /// <summary>Prints the table; 0, or 1 with the reason on <paramref name="error"/>.</summary>
    public static async Task<int> RunAsync(string experiment, ClusterConnection connection, bool allNamespaces, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(experiment, ExperimentSpec.NamePattern))
        {
            await error.WriteLineAsync($"ferry experiments: '{experiment}' is not an experiment name (letters, digits and inner hyphens, as spec.experiment.name).");
            return 1;
        }

        try
        {
            var (client, ns) = connection.Open();
            using (client)
            {
                var jobs = new KubernetesResourceClient<TrainingJob>(client);
                var list = await jobs.ListAsync(allNamespaces ? null : ns, $"{TrainingJobLabels.Experiment}={experiment}", cancellationToken);
                await output.WriteAsync(ExperimentTable.Render(experiment, list.Items));
                return 0;
            }
        }
        catch (CliException e)
        {
            await error.WriteLineAsync("ferry experiments: " + e.Message);
            return 1;
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException)
        {
            await error.WriteLineAsync($"ferry experiments: listing TrainingJobs failed: {e.Message}");
            return 1;
        }
    }
}

/// <summary>The kubectl-style connection options the cluster commands share.</summary>
internal sealed class ConnectionOptions
{
    private readonly Option<string?> _kubeconfig = new("--kubeconfig") { Description = "kubeconfig file (default: KUBECONFIG, else ~/.kube/config)." };
    private readonly Option<string?> _context = new("--context") { Description = "kubeconfig context (default: the current one)." };
    private readonly Option<string?> _namespace = new("--namespace", "-n") { Description = "Namespace (default: the context's, else default)." };

    public static ConnectionOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Options.Add(_kubeconfig);
        command.Options.Add(_context);
        command.Options.Add(_namespace);
    }

    public ClusterConnection Read(ParseResult parse) => new(parse.GetValue(_kubeconfig), parse.GetValue(_context), parse.GetValue(_namespace));
}
