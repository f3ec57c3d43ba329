using System.CommandLine;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Cli.Insight;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Cli;

/// <summary>What `ferry logs` was asked to do.</summary>
/// <param name="Target">`tj/NAME`.</param>
/// <param name="Request">Rank, attempt, follow.</param>
/// <param name="Local">Read a `ferry run` work directory (backend Local) instead of asking a cluster.</param>
/// <param name="WorkDirectory">The work directory of `ferry run` (default &lt;temp&gt;/ferry).</param>
/// <param name="Connection">The cluster to ask.</param>
/// <param name="SageMakerEndpoint">An endpoint override for CloudWatch Logs (a VPC endpoint), or null.</param>
public sealed record LogsOptions(string Target, LogRequest Request, bool Local, string? WorkDirectory, ClusterConnection Connection, Uri? SageMakerEndpoint = null);

/// <summary>
/// `ferry logs tj/NAME [--rank N] [--follow] [--attempt N]`: one command for a replica's log on every backend —
/// InCluster through the Kubernetes API (pods/log), Local from `ferry run`'s work directory (`--local`), SageMaker from
/// CloudWatch Logs; `--attempt N` reads a finished attempt's copy under spec.output.uri.
/// </summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("trainingjob") { Description = "The TrainingJob: tj/NAME." };
        var rank = new Option<int>("--rank", "-r") { Description = "Replica (rank) whose log to print (default 0).", DefaultValueFactory = _ => 0 };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing as the replica writes, until it ends." };
        var attempt = new Option<int?>("--attempt") { Description = "Attempt whose log to print (default: the current one); an ended attempt's log is read from its copy under spec.output.uri." };
        var local = new Option<bool>("--local") { Description = "The job ran with `ferry run` (backend Local) on this machine: read its work directory." };
        var workDir = new Option<string?>("--work-dir") { Description = "The --work-dir of that `ferry run` (default <temp>/ferry); implies --local." };
        var endpoint = new Option<string?>("--sagemaker-endpoint") { Description = "Endpoint override for CloudWatch Logs (a VPC interface endpoint)." };
        var connection = ConnectionOptions.Create();
        var command = new Command("logs", "Print a TrainingJob replica's log: pod logs (InCluster), the replica's log file (Local), CloudWatch Logs (SageMaker).");
        command.Arguments.Add(target);
        foreach (var option in new Option[] { rank, follow, attempt, local, workDir, endpoint })
        {
            command.Options.Add(option);
        }

        connection.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new LogsOptions(
                parse.GetValue(target)!,
                new LogRequest("", parse.GetValue(rank), parse.GetValue(attempt), parse.GetValue(follow)),
                parse.GetValue(local) || parse.GetValue(workDir) is not null,
                parse.GetValue(workDir),
                connection.Read(parse),
                parse.GetValue(endpoint) is { Length: > 0 } url ? new Uri(url) : null);
            return await RunAsync(options, Console.Out, Console.Error, TimeProvider.System, cancellationToken);
        });
        return command;
    }

    /// <summary>Prints the log; 0, or 1 with the reason on <paramref name="error"/>.</summary>
    public static async Task<int> RunAsync(LogsOptions options, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            var request = options.Request with { Job = JobLogs.ParseTarget(options.Target) };
            if (request.Rank < 0 || request.Attempt is < 1)
            {
                throw new CliException("--rank must be 0 or more and --attempt 1 or more.");
            }

            if (options.Local)
            {
                var workRoot = options.WorkDirectory is { Length: > 0 } dir ? Path.GetFullPath(dir) : Path.Combine(Path.GetTempPath(), "ferry");
                await JobLogs.LocalAsync(workRoot, request, output, time, cancellationToken);
                return 0;
            }

            var (client, ns) = options.Connection.Open();
            using (client)
            {
                var jobs = new KubernetesResourceClient<TrainingJob>(client);
                var job = await jobs.GetAsync(ns, request.Job, cancellationToken)
                    ?? throw new CliException($"TrainingJob {ns}/{request.Job} not found; check the name and -n NAMESPACE (a job run with `ferry run` needs --local).");
                using var stores = ObjectStoreFactory.FromEnvironment();
                switch (job.Spec.Backend)
                {
                    case TrainingJobBackend.SageMaker:
                        await SageMakerAsync(job, request, options, jobs, output, time, cancellationToken);
                        break;
                    case TrainingJobBackend.InCluster:
                        await JobLogs.InClusterAsync(client, job, request, stores, output, cancellationToken);
                        break;
                    default:
                        if (request.Attempt is null)
                        {
                            throw new CliException($"TrainingJob {request.Job} has backend {job.Spec.Backend}, which only `ferry run` runs: use ferry logs --local.");
                        }

                        await JobLogs.CopiedAsync(job, request, stores, output, cancellationToken);
                        break;
                }
            }

            return 0;
        }
        catch (CliException e)
        {
            await error.WriteLineAsync("ferry logs: " + e.Message);
            return 1;
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException or k8s.Autorest.HttpOperationException or IOException or Amazon.Runtime.AmazonServiceException)
        {
            await error.WriteLineAsync($"ferry logs: {e.Message}");
            return 1;
        }
    }

    private static async Task SageMakerAsync(TrainingJob job, LogRequest request, LogsOptions options, KubernetesResourceClient<TrainingJob> jobs,
        TextWriter output, TimeProvider time, CancellationToken cancellationToken)
    {
        var region = job.Spec.SageMaker?.Region is { Length: > 0 } r ? r
            : Environment.GetEnvironmentVariable("AWS_REGION") ?? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION")
            ?? throw new CliException("the job names no spec.sageMaker.region: set AWS_REGION to the region the operator uses.");
        using var logs = new CloudWatchLogsClient(new SageMakerClientOptions { Region = region, Endpoint = options.SageMakerEndpoint, TimeProvider = time });
        await SageMakerLogs.ReadAsync(logs, job, request,
            async token => Reconciliation.TrainingJobStatusCalculator.IsFinished((await jobs.GetAsync(job.Metadata.NamespaceProperty, job.Metadata.Name, token))?.Status?.Phase ?? TrainingJobPhase.Failed),
            output, time, cancellationToken);
    }
}
