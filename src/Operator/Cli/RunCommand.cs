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
/// <param name="Mode">Replicas as processes or in containers of spec.image (`--mode`; auto by default).</param>
public sealed record RunOptions(string Manifest, bool Verbose, string? WorkDirectory, string WorkingDirectory, bool Resume = false, LocalRunMode Mode = LocalRunMode.Auto);

/// <summary>
/// `ferry run &lt;manifest.yaml&gt; [--verbose] [--work-dir DIR] [--mode auto|process|container]`: validates a TrainingJob manifest as the API server would,
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
        var command = new Command("run", "Run a TrainingJob on this machine (backend Local): replicas as processes, or as containers of spec.image (--mode), with the SageMaker container contract.");
        command.Arguments.Add(manifest);
        command.Options.Add(verbose);
        var resume = new Option<bool>("--resume")
        {
            Description = "Start from the latest checkpoint of the previous run of the same job (the checkpoints its replicas left under --work-dir); with spec.checkpoint.uri every run resumes from there anyway.",
        };
        var mode = new Option<LocalRunMode>("--mode")
        {
            Description = "process: replicas as processes with the built trainer; container: each replica in a container of spec.image with podman or docker (SageMaker local mode: /opt/ml mounted per replica, algo-1..N host names, `train`); auto (default): container when spec.image is set and an engine is on PATH.",
            DefaultValueFactory = _ => LocalRunMode.Auto,
        };
        command.Options.Add(workDir);
        command.Options.Add(resume);
        command.Options.Add(mode);

        // A synchronous action with its own signal handling: System.CommandLine would end the process a fixed
        // time after Ctrl-C, before the replicas are stopped and the final status is printed.
        command.SetAction(parse =>
        {
            using var interrupt = new InterruptSignal();
            var options = new RunOptions(parse.GetValue(manifest)!, parse.GetValue(verbose), parse.GetValue(workDir), Directory.GetCurrentDirectory(), parse.GetValue(resume), parse.GetValue(mode));
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
        LocalRunModeChoice mode;
        try
        {
            job = ManifestLoader.LoadFile(Path.GetFullPath(options.Manifest, options.WorkingDirectory));
            var workRoot = options.WorkDirectory is { Length: > 0 } dir
                ? Path.GetFullPath(dir, options.WorkingDirectory)
                : Path.Combine(Path.GetTempPath(), "ferry");
            mode = await LocalRunModeChoice.ChooseAsync(options.Mode, job, () => ContainerEngine.Find(), cancellationToken);

            // In a container `train` is the image's; only process mode needs the trainer built here.
            plan = LocalJobPlan.For(job, workRoot, options.WorkingDirectory, mode.IsContainer
                ? () => new ProgramPath(Contract.ContainerContract.DefaultCommand, [])
                : () => LocalPrograms.Trainer(workingDirectory: options.WorkingDirectory));
        }
        catch (InvalidOperationException e)
        {
            await error.WriteLineAsync($"ferry run: {e.Message}");
            return Failed;
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
        var containers = mode.IsContainer ? new ContainerReplicaCommand(mode.Engine!, mode.Image!, plan, job.Spec) : null;
        if (mode.Note is { } note)
        {
            await output.WriteLineAsync(note);
        }

        await output.WriteLineAsync(containers is null
            ? $"TrainingJob {job.Metadata.Name}: {plan.Job.Replicas} replica(s) on this machine, running {string.Join(' ', plan.Command)}"
            : $"TrainingJob {job.Metadata.Name}: {plan.Job.Replicas} replica(s) in {containers.Engine.Name} containers of {containers.Image} (hosts {string.Join(", ", Contract.ContainerContract.HostNames(plan.Job.Replicas))}), running {string.Join(' ', Agent.AgentJobMapping.TrainingCommand(job.Spec))}");
        await output.WriteLineAsync($"replica roots and logs: {plan.JobDirectory}");

        TrainingJob finished;
        try
        {
            finished = live
                ? await RunLiveAsync(job, plan, containers, options.Verbose, cancellationToken)
                : await RunPlainAsync(job, plan, containers, output, options.Verbose, cancellationToken);
        }
        finally
        {
            if (containers is not null)
            {
                await containers.RemoveLeftoversAsync(CancellationToken.None);
            }
        }

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

    private static async Task<TrainingJob> RunPlainAsync(TrainingJob job, LocalJobPlan plan, ContainerReplicaCommand? containers, TextWriter output, bool verbose, CancellationToken cancellationToken)
    {
        var progress = new PlainRunProgress(output, plan.Job.MetricDefinitions, verbose);
        return await RunJobAsync(job, plan, containers, progress, cancellationToken);
    }

    private static async Task<TrainingJob> RunLiveAsync(TrainingJob job, LocalJobPlan plan, ContainerReplicaCommand? containers, bool verbose, CancellationToken cancellationToken)
    {
        TrainingJob? finished = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var progress = new LiveRunProgress(AnsiConsole.Console, context, plan.Job.MetricDefinitions, verbose);
                finished = await RunJobAsync(job, plan, containers, progress, cancellationToken);
            });
        return finished!;
    }

    private static async Task<TrainingJob> RunJobAsync(TrainingJob job, LocalJobPlan plan, ContainerReplicaCommand? containers, RunProgress progress, CancellationToken cancellationToken)
    {
        await using var backend = new LocalBackend(plan, LocalPrograms.Agent(), TimeProvider.System, progress.Line)
        {
            TrainingCommand = containers is null ? null : containers.For,
        };
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
