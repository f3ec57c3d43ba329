using System.CommandLine;
using System.Text.Json.Nodes;
using Ferry.Crds.Generation;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;
using Ferry.Operator.Storage;
using k8s;
using Spectre.Console;

namespace Ferry.Operator.Cli;

/// <summary>What <c>ferry run</c> was asked to do.</summary>
/// <param name="Manifest">Path of the TrainingJob YAML.</param>
/// <param name="Verbose">Stream rank 0's log.</param>
/// <param name="WorkDirectory">Where the replicas' roots and logs go (default: &lt;temp&gt;/ferry).</param>
/// <param name="WorkingDirectory">What relative paths (the manifest, file://./ URIs) are resolved against.</param>
/// <param name="Resume">Start from the latest checkpoint of the previous run of the same job (`--resume`).</param>
public sealed record RunOptions(string Manifest, bool Verbose, string? WorkDirectory, string WorkingDirectory, bool Resume = false);

/// <summary>
/// `ferry run &lt;manifest.yaml&gt; [--verbose] [--work-dir DIR]`: validates a TrainingJob manifest as the API server would,
/// runs it on this machine with the Local backend through the operator's status logic, shows progress, and prints
/// the final status and the model's location. Exit code: 0 Complete, 1 Failed (or could not run), 2 invalid
/// manifest, 130 interrupted.
/// </summary>
internal static class RunCommand
{
    public const int Complete = 0;
    public const int Failed = 1;
    public const int InvalidManifest = 2;
    public const int Interrupted = 130;

    public static Command Create()
    {
        var manifest = new Argument<string>("manifest") { Description = "The TrainingJob manifest (YAML) to run; its spec.backend must be Local." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Stream rank 0's log." };
        var workDir = new Option<string?>("--work-dir")
        {
            Description = "Directory for the replicas' stand-ins for /opt/ml and their logs (default: <temp>/ferry).",
        };
        var command = new Command("run", "Run a TrainingJob on this machine (backend Local): replicas as processes with the SageMaker container contract.");
        command.Arguments.Add(manifest);
        command.Options.Add(verbose);
        var resume = new Option<bool>("--resume")
        {
            Description = "Start from the latest checkpoint of the previous run of the same job (the checkpoints its replicas left under --work-dir); with spec.checkpoint.uri every run resumes from there anyway.",
        };
        command.Options.Add(workDir);
        command.Options.Add(resume);

        // A synchronous action with its own signal handling: System.CommandLine would end the process a fixed
        // time after Ctrl-C, before the replicas are stopped and the final status is printed.
        command.SetAction(parse =>
        {
            using var interrupt = new InterruptSignal();
            var options = new RunOptions(parse.GetValue(manifest)!, parse.GetValue(verbose), parse.GetValue(workDir), Directory.GetCurrentDirectory(), parse.GetValue(resume));
            var live = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            return RunAsync(options, Console.Out, Console.Error, live, interrupt.Token).GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>Runs the manifest; <paramref name="live"/> draws progress bars, otherwise progress is printed line by line.</summary>
    public static async Task<int> RunAsync(RunOptions options, TextWriter output, TextWriter error, bool live, CancellationToken cancellationToken)
    {
        TrainingJob job;
        LocalJobPlan plan;
        try
        {
            job = ManifestLoader.LoadFile(Path.GetFullPath(options.Manifest, options.WorkingDirectory));
            var workRoot = options.WorkDirectory is { Length: > 0 } dir
                ? Path.GetFullPath(dir, options.WorkingDirectory)
                : Path.Combine(Path.GetTempPath(), "ferry");
            plan = LocalJobPlan.For(job, workRoot, options.WorkingDirectory, () => LocalPrograms.Trainer(workingDirectory: options.WorkingDirectory));
        }
        catch (InvalidManifestException e)
        {
            await error.WriteLineAsync(e.Message);
            return InvalidManifest;
        }
        catch (FormatException e)
        {
            await error.WriteLineAsync($"ferry run: {e.Message}");
            return InvalidManifest;
        }
        catch (FileNotFoundException e)
        {
            await error.WriteLineAsync($"ferry run: {e.Message}");
            return Failed;
        }

        if (options.Resume)
        {
            if (plan.Job.CheckpointUri is { } checkpointUri)
            {
                await output.WriteLineAsync($"resuming from the latest checkpoint in {checkpointUri} (spec.checkpoint.uri)");
            }
            else if (PreviousRunCheckpoints.Keep(plan) is { } kept)
            {
                plan = plan with { Job = plan.Job with { CheckpointUri = "file://" + kept.Directory } };
                await output.WriteLineAsync($"resuming from {kept.Latest} of the previous run (attempt {kept.Attempt})");
            }
            else
            {
                await error.WriteLineAsync(
                    $"ferry run: --resume found no checkpoint of an earlier run of {job.Metadata.Name} under {plan.JobDirectory}; run without --resume, use the same --work-dir as that run, or set spec.checkpoint.uri.");
                return Failed;
            }
        }

        if (Directory.Exists(plan.JobDirectory))
        {
            // Every run starts from fresh replica roots; checkpoints and artifacts live under their URIs, not here.
            Directory.Delete(plan.JobDirectory, recursive: true);
        }

        Directory.CreateDirectory(plan.JobDirectory);
        await output.WriteLineAsync($"TrainingJob {job.Metadata.Name}: {plan.Job.Replicas} replica(s) on this machine, running {string.Join(' ', plan.Command)}");
        await output.WriteLineAsync($"replica roots and logs: {plan.JobDirectory}");

        var finished = live
            ? await RunLiveAsync(job, plan, options.Verbose, cancellationToken)
            : await RunPlainAsync(job, plan, output, options.Verbose, cancellationToken);

        await output.WriteLineAsync();
        var status = new JsonObject { ["status"] = JsonNode.Parse(KubernetesJson.Serialize(finished.Status)) };
        await output.WriteAsync(YamlText.Write(status));
        var phase = finished.Status?.Phase;
        if (phase == TrainingJobPhase.Succeeded && finished.Status?.Artifacts?.Model is { } model)
        {
            await output.WriteLineAsync($"model: {LocalPath(model)}");
        }

        if (finished.Status?.Artifacts?.Report is { } report)
        {
            await output.WriteLineAsync($"report: {LocalPath(report)}");
        }

        if (phase != TrainingJobPhase.Succeeded)
        {
            await error.WriteLineAsync($"ferry run: the job ended {phase}{(finished.Status?.FailureReason is { } reason ? ": " + reason : "")}");
            await error.WriteLineAsync($"ferry run: replica logs: {plan.JobDirectory}/attempt-*/algo-*.log");
        }

        return phase switch
        {
            TrainingJobPhase.Succeeded => Complete,
            TrainingJobPhase.Stopped when cancellationToken.IsCancellationRequested => Interrupted,
            _ => Failed,
        };
    }

    private static async Task<TrainingJob> RunPlainAsync(TrainingJob job, LocalJobPlan plan, TextWriter output, bool verbose, CancellationToken cancellationToken)
    {
        var progress = new PlainRunProgress(output, plan.Job.MetricDefinitions, verbose);
        return await RunJobAsync(job, plan, progress, cancellationToken);
    }

    private static async Task<TrainingJob> RunLiveAsync(TrainingJob job, LocalJobPlan plan, bool verbose, CancellationToken cancellationToken)
    {
        TrainingJob? finished = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var progress = new LiveRunProgress(AnsiConsole.Console, context, plan.Job.MetricDefinitions, verbose);
                finished = await RunJobAsync(job, plan, progress, cancellationToken);
            });
        return finished!;
    }

    private static async Task<TrainingJob> RunJobAsync(TrainingJob job, LocalJobPlan plan, RunProgress progress, CancellationToken cancellationToken)
    {
        await using var backend = new LocalBackend(plan, LocalPrograms.Agent(), TimeProvider.System, progress.Line);
        var runner = new LocalJobRunner(backend, TimeProvider.System)
        {
            StatusChanged = progress.Status,
            EventRecorded = progress.Event,
        };
        return await runner.RunAsync(job, cancellationToken);
    }

    // file:// URIs are shown as the path a user can open.
    private static string LocalPath(string uri) =>
        uri.StartsWith("file://", StringComparison.Ordinal) ? ObjectLocation.Parse(uri).Prefix : uri;
}
