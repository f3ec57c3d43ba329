using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using Ferry.Operator.Contract;
using Ferry.Operator.Insight.Report;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Agent;

/// <summary>
/// `ferry agent exec -- &lt;command&gt; [args]`: runs the training process (default `train`) with the container's
/// environment, streams its output through while matching metric definitions and keeping it for the post-mortem
/// (<see cref="ReplicaLog"/>), mirrors `/opt/ml/checkpoints` to `spec.checkpoint.uri` every
/// <see cref="AgentSettings.CheckpointSyncInterval"/> and at the end (<see cref="CheckpointSync"/>), and after success
/// on replica 0 uploads `model.tar.gz` (and `output.tar.gz` when `/opt/ml/output/data` has files). When the process
/// ends it copies the replica's full log to `&lt;output&gt;/&lt;job&gt;/attempt-N/algo-K.log`. Whatever the outcome it writes
/// a <see cref="TerminationMessage"/> (with the output's last lines on failure and the latest synced checkpoint) and
/// returns the process's exit code. A stop request forwards SIGTERM to the process and kills it (with its children)
/// after <see cref="AgentSettings.StopGracePeriod"/>.
/// </summary>
public sealed class AgentExec(ObjectStoreFactory stores, TextWriter stdout, TextWriter stderr, TimeProvider time)
{
    /// <summary>Exit code used when the agent itself fails (upload, bad configuration) after the process succeeded.</summary>
    public const int AgentFailureExitCode = 70;

    /// <summary>Runs <paramref name="command"/>; <paramref name="stopRequested"/> is the SIGTERM the container received.</summary>
    public async Task<int> RunAsync(AgentJob job, AgentSettings settings, IReadOnlyList<string> command, CancellationToken stopRequested)
    {
        var root = settings.Root;
        var checkpoints = ContainerContract.PathOf(root, ContainerContract.CheckpointsDirectory);
        using var sync = string.IsNullOrEmpty(job.CheckpointUri) ? null : new CheckpointSync(checkpoints, job.CheckpointUri);
        sync?.RecordExisting();
        var metrics = new MetricScanner(job.MetricDefinitions);
        // The channels' listing from `agent init`, taken before the training process starts (it is not SageMaker's).
        var inputs = InputReport.Take(root);
        // Every value with its step and epoch: served live by rank 0, and what rank 0's training report plots.
        var live = new Insight.LiveMetricRecorder(job.MetricDefinitions);
        await using var server = await StartMetricsServerAsync(settings, live);
        var arguments = command.Count == 0 ? [ContainerContract.DefaultCommand] : command;
        var host = ContainerContract.HostName(settings.ReplicaIndex);
        // Outside /opt/ml, which belongs to the training process's contract; the same place the model is packed in.
        var logPath = Path.Combine(Path.GetTempPath(), $"ferry-agent-{Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)}-{host}.log");
        using var log = new ReplicaLog(logPath, SecretRedaction.ForProcess(job.Environment));
        using var removeLog = new LogFileRemoval(logPath);

        using var process = new Process
        {
            StartInfo = new ProcessStartInfo(arguments[0])
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            },
        };
        foreach (var argument in arguments.Skip(1))
        {
            process.StartInfo.ArgumentList.Add(argument);
        }

        // The container already carries the contract variables; setting them again from the same inputs makes the
        // agent self-sufficient (a process started with only FERRY_JOB gets the full contract too).
        foreach (var (name, value) in ContainerContract.Environment(job.ToContractJob(), settings.ToContractReplica(job)))
        {
            process.StartInfo.Environment[name] = value;
        }
        process.OutputDataReceived += (_, e) => Forward(e.Data, stdout, metrics, live, log);
        process.ErrorDataReceived += (_, e) => Forward(e.Data, stderr, metrics, live, log);

        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or FileNotFoundException)
        {
            var reason = $"Could not start '{arguments[0]}': {e.Message}. Check spec.command and that the image contains it.";
            await stderr.WriteLineAsync("ferry agent: " + reason);
            await WriteTerminationMessageAsync(settings, new TerminationMessage(127, reason, metrics.Latest()));
            return 127;
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var trainingStarted = time.GetUtcNow();

        using var syncStop = new CancellationTokenSource();
        var periodic = SyncCheckpointsPeriodicallyAsync(job, sync, settings.CheckpointSyncInterval, syncStop.Token);
        using var stopRegistration = stopRequested.Register(() => _ = StopAsync(process, settings.StopGracePeriod));

        await process.WaitForExitAsync(CancellationToken.None);
        var exitCode = process.ExitCode;
        var trainingEnded = time.GetUtcNow();
        // Told to stop before the process ended: a SIGTERM during the wrap-up below (the operator deleting the pods of
        // an attempt that failed) does not make a process that failed on its own a stopped one.
        var stopped = stopRequested.IsCancellationRequested;
        await syncStop.CancelAsync();
        await periodic;

        string? failure = null;
        string? modelUri = null;
        ModelDigest? modelDigest = null;
        try
        {
            await SyncCheckpointsAsync(job, sync, CancellationToken.None);
            if (exitCode == 0 && settings.ReplicaIndex == 0 && !string.IsNullOrEmpty(job.OutputUri))
            {
                (modelUri, modelDigest) = await UploadArtifactsAsync(job, root, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = $"Training finished with exit code {exitCode} but uploading its artifacts failed: {e.Message}";
            await stderr.WriteLineAsync("ferry agent: " + failure);
            if (exitCode == 0)
            {
                exitCode = AgentFailureExitCode;
            }
        }

        if (exitCode != 0)
        {
            failure = TerminationMessage.ReadFailureReason(ContainerContract.PathOf(root, ContainerContract.FailureFile))
                ?? failure
                ?? (stopped
                    ? $"'{arguments[0]}' was stopped (exit code {exitCode})."
                    : $"'{arguments[0]}' exited with code {exitCode} and wrote no {ContainerContract.FailureFile}.");
        }

        var logs = await CopyLogAsync(job, settings, log);
        string? report = null;
        if (settings.ReplicaIndex == 0)
        {
            var outcome = exitCode == 0 ? "Succeeded"
                : stopped ? $"Stopped (exit code {exitCode})"
                : $"Failed (exit code {exitCode})";
            report = await WriteReportAsync(job, new TrainingReport(
                job.JobName, settings.Attempt, job.Replicas, job.Report ?? new AgentReportContext("unknown"), job.HyperParameters, inputs,
                modelUri is not null && modelDigest is not null ? (modelUri, modelDigest) : null,
                live.Snapshot(), trainingStarted, trainingEnded, outcome));
        }

        await WriteTerminationMessageAsync(settings, new TerminationMessage(exitCode, failure, metrics.Latest(), modelUri)
        {
            Inputs = settings.ReplicaIndex == 0 ? inputs : null,
            ModelDigest = modelDigest,
            Report = report,
            LogTail = exitCode == 0 ? null : log.Tail(),
            Logs = logs,
            Checkpoint = sync?.Latest,
            Stopped = stopped,
            ExitedAt = trainingEnded,
        });
        return exitCode;
    }

    /// <summary>Packs <paramref name="directory"/> (its contents, not the directory itself) into a gzip-compressed tar file.</summary>
    public static async Task PackAsync(string directory, string archivePath, CancellationToken cancellationToken)
    {
        await using var file = File.Create(archivePath);
        await using var gzip = new GZipStream(file, CompressionLevel.Optimal);
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            await TarFile.CreateFromDirectoryAsync(directory, gzip, includeBaseDirectory: false, cancellationToken);
        }
        else
        {
            // An empty directory still yields a valid (empty) archive: the two zero blocks that end a tar file.
            await gzip.WriteAsync(new byte[1024], cancellationToken);
        }
    }

    /// <summary>
    /// Rank 0's live metric endpoint when the container knows its address and identity, else null. A failure to bind
    /// costs the live metrics, never the training: it is said on stderr.
    /// </summary>
    private async Task<LiveMetricsServer?> StartMetricsServerAsync(AgentSettings settings, Insight.LiveMetricRecorder live)
    {
        if (settings.ReplicaIndex != 0 || settings.MetricsAddress is not { } address || settings.JobUid is not { } jobUid || settings.PodUid is not { } podUid)
        {
            return null;
        }

        try
        {
            return LiveMetricsServer.Start(address, settings.MetricsPort, live, jobUid, podUid, time);
        }
        catch (System.Net.HttpListenerException e)
        {
            await stderr.WriteLineAsync($"ferry agent: cannot serve live metrics on {address}:{settings.MetricsPort} ({e.Message}); status.metrics will be updated only at the end.");
            return null;
        }
    }

    private void Forward(string? line, TextWriter writer, MetricScanner metrics, Insight.LiveMetricRecorder live, ReplicaLog log)
    {
        if (line is null)
        {
            return;
        }

        log.Add(line);
        lock (writer)
        {
            writer.WriteLine(line);
            writer.Flush();
        }

        var now = time.GetUtcNow();
        metrics.Observe(line, now);
        live.Observe(line, now);
    }

    private async Task StopAsync(Process process, TimeSpan grace)
    {
        try
        {
            if (process.HasExited)
            {
                return;
            }

            await stderr.WriteLineAsync($"ferry agent: stop requested; sending SIGTERM to {process.Id}, killing after {grace.TotalSeconds:0.#}s");
            ProcessSignals.Terminate(process.Id);
            using var timeout = new CancellationTokenSource(grace, time);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                await stderr.WriteLineAsync("ferry agent: grace period over; killing the training process");
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // The process exited between the checks.
        }
    }

    private async Task SyncCheckpointsPeriodicallyAsync(AgentJob job, CheckpointSync? sync, TimeSpan interval, CancellationToken cancellationToken)
    {
        if (sync is null || interval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await SyncCheckpointsAsync(job, sync, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failed periodic sync is retried at the next tick and at the end.
                    await stderr.WriteLineAsync("ferry agent: checkpoint sync failed, will retry: " + e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SyncCheckpointsAsync(AgentJob job, CheckpointSync? sync, CancellationToken cancellationToken)
    {
        if (sync is null)
        {
            return;
        }

        var before = sync.Latest;
        using var store = stores.Open(job.CheckpointUri!, "spec.checkpoint.uri");
        var latest = await sync.SyncAsync(store, cancellationToken);
        if (latest is not null && latest != before)
        {
            await stdout.WriteLineAsync(
                $"ferry agent: checkpoint {latest.Describe()} synced to {latest.Uri} ({latest.Size} bytes, saved {latest.SavedAt:yyyy-MM-ddTHH:mm:ssZ})");
        }
    }

    /// <summary>
    /// Copies the replica's log to `&lt;output&gt;/&lt;job&gt;/attempt-N/algo-K.log` so it outlives the pod; returns the URI, or
    /// null when the job has no output location or the copy failed (said on stderr: a lost log never fails the job).
    /// </summary>
    private async Task<string?> CopyLogAsync(AgentJob job, AgentSettings settings, ReplicaLog log)
    {
        if (string.IsNullOrEmpty(job.OutputUri) || log.Path is null)
        {
            return null;
        }

        try
        {
            log.Flush();
            using var store = stores.Open(job.OutputUri, "spec.output.uri");
            await store.UploadAsync(log.Path, ArtifactLocations.LogKey(job.JobName, settings.Attempt, settings.ReplicaIndex), CancellationToken.None);
            return ArtifactLocations.LogUri(job.OutputUri, job.JobName, settings.Attempt, settings.ReplicaIndex);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await stderr.WriteLineAsync("ferry agent: copying the replica's log failed: " + e.Message);
            return null;
        }
    }

    private async Task<(string Uri, ModelDigest Digest)> UploadArtifactsAsync(AgentJob job, string root, CancellationToken cancellationToken)
    {
        using var store = stores.Open(job.OutputUri!, "spec.output.uri");
        var staging = Path.Combine(Path.GetTempPath(), "ferry-agent-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            var model = Path.Combine(staging, ArtifactLocations.ModelArchive);
            await PackAsync(ContainerContract.PathOf(root, ContainerContract.ModelDirectory), model, cancellationToken);
            var digest = await ModelDigest.OfAsync(model, cancellationToken);
            await store.UploadAsync(model, ArtifactLocations.ModelKey(job.JobName), cancellationToken);

            var outputData = ContainerContract.PathOf(root, ContainerContract.OutputDataDirectory);
            if (Directory.Exists(outputData) && Directory.EnumerateFileSystemEntries(outputData).Any())
            {
                var output = Path.Combine(staging, ArtifactLocations.OutputArchive);
                await PackAsync(outputData, output, cancellationToken);
                await store.UploadAsync(output, ArtifactLocations.OutputKey(job.JobName), cancellationToken);
            }

            await stdout.WriteLineAsync($"ferry agent: model uploaded to {ArtifactLocations.ModelUri(job.OutputUri!, job.JobName)}");
            return (ArtifactLocations.ModelUri(job.OutputUri!, job.JobName), digest);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// Writes the training report (rank 0) to `&lt;output&gt;/&lt;job&gt;/output/report.html`; returns its URI, or null when the
    /// job has no output location or writing failed (said on stderr: a lost report never fails the job).
    /// </summary>
    private async Task<string?> WriteReportAsync(AgentJob job, TrainingReport report)
    {
        if (string.IsNullOrEmpty(job.OutputUri))
        {
            return null;
        }

        var path = Path.Combine(Path.GetTempPath(), $"ferry-report-{Guid.NewGuid():N}.html");
        try
        {
            await TrainingReportHtml.WriteAsync(report, path, CancellationToken.None);
            using var store = stores.Open(job.OutputUri, "spec.output.uri");
            await store.UploadAsync(path, ArtifactLocations.ReportKey(job.JobName), CancellationToken.None);
            var uri = ArtifactLocations.ReportUri(job.OutputUri, job.JobName);
            await stdout.WriteLineAsync($"ferry agent: training report written to {uri}");
            return uri;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await stderr.WriteLineAsync("ferry agent: writing the training report failed: " + e.Message);
            return null;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task WriteTerminationMessageAsync(AgentSettings settings, TerminationMessage message)
    {
        try
        {
            var directory = Path.GetDirectoryName(settings.TerminationMessagePath);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            await File.WriteAllTextAsync(settings.TerminationMessagePath, message.Serialize(), CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"ferry agent: cannot write {settings.TerminationMessagePath} ({e.Message}); set {AgentSettings.TerminationLogVariable}.");
        }
    }

    /// <summary>Deletes the agent's local copy of the log when the run is over (after the log itself was closed).</summary>
    private sealed class LogFileRemoval(string path) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A temporary file left behind in a container that is about to end does no harm.
            }
        }
    }
}
