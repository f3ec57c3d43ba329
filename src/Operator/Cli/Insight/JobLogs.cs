using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Contract;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Storage;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Cli.Insight;

/// <summary>What `ferry logs` was asked for: which job, which replica (rank), which attempt (null: the current one), follow or not.</summary>
public sealed record LogRequest(string Job, int Rank = 0, int? Attempt = null, bool Follow = false);

/// <summary>
/// The logs of a TrainingJob's replica on each backend: a Local run's replica log file, an InCluster pod's log
/// through the Kubernetes API (`pods/log`, container `train`), and for a finished attempt the copy the agent left at
/// `&lt;output&gt;/&lt;job&gt;/attempt-N/algo-K.log`. SageMaker logs live in CloudWatch Logs (<see cref="SageMakerLogs"/>).
/// </summary>
public static class JobLogs
{
    /// <summary>How often a followed local log file is read again.</summary>
    public static readonly TimeSpan FollowInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Parses `tj/NAME`, `trainingjob/NAME`, `trainingjobs/NAME` or `NAME`; a message naming the fix for anything else.
    /// </summary>
    public static string ParseTarget(string target)
    {
        var slash = target.IndexOf('/', StringComparison.Ordinal);
        var kind = slash < 0 ? null : target[..slash];
        var name = slash < 0 ? target : target[(slash + 1)..];
        if (kind is not (null or "tj" or "trainingjob" or "trainingjobs" or "trainingjob.ferry.dev" or "trainingjobs.ferry.dev") || name.Length == 0 || name.Contains('/', StringComparison.Ordinal))
        {
            throw new CliException($"'{target}' names no TrainingJob; write tj/NAME (e.g. ferry logs tj/fashion-mnist).");
        }

        return name;
    }

    /// <summary>
    /// Prints a Local replica's log from `ferry run`'s work directory (`&lt;work-dir&gt;/&lt;job&gt;/attempt-N/algo-K.log`, the
    /// latest attempt unless one is asked for). Following reads on until the replica has ended (its agent wrote the
    /// termination message beside the log).
    /// </summary>
    public static async Task LocalAsync(string workRoot, LogRequest request, TextWriter output, TimeProvider time, CancellationToken cancellationToken)
    {
        var jobDirectory = Path.Combine(workRoot, request.Job);
        if (!Directory.Exists(jobDirectory))
        {
            throw new CliException($"no Local run of {request.Job} under {workRoot}; pass the --work-dir the run used (default <temp>/ferry).");
        }

        var attempt = request.Attempt ?? Directory.EnumerateDirectories(jobDirectory, "attempt-*")
            .Select(d => int.TryParse(Path.GetFileName(d)["attempt-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0)
            .DefaultIfEmpty(0).Max();
        var attemptDirectory = Path.Combine(jobDirectory, "attempt-" + attempt.ToString(CultureInfo.InvariantCulture));
        var host = ContainerContract.HostName(request.Rank);
        var log = Path.Combine(attemptDirectory, host + ".log");
        if (!File.Exists(log))
        {
            throw new CliException(attempt == 0
                ? $"the Local run of {request.Job} under {workRoot} has no attempt yet."
                : $"no log of rank {request.Rank} in attempt {attempt} ({log}); check --rank (0..replicas-1) and --attempt.");
        }

        var ended = Path.Combine(attemptDirectory, host + ".termination-log");
        await using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (true)
        {
            // Checked before reading: whatever the replica wrote before it ended is read in this round.
            var done = !request.Follow || File.Exists(ended);
            var text = await reader.ReadToEndAsync(cancellationToken);
            if (text.Length > 0)
            {
                await output.WriteAsync(text);
                await output.FlushAsync(cancellationToken);
            }

            if (done)
            {
                return;
            }

            await Task.Delay(FollowInterval, time, cancellationToken);
        }
    }

    /// <summary>
    /// Prints an InCluster replica's log through the Kubernetes API: the current attempt's pod `&lt;job&gt;-&lt;rank&gt;`
    /// (container `train`), streamed to its end with <see cref="LogRequest.Follow"/>; for an earlier attempt (its pods
    /// are gone) the copy the agent left under spec.output.uri.
    /// </summary>
    public static async Task InClusterAsync(IKubernetes client, TrainingJob job, LogRequest request, ObjectStoreFactory stores, TextWriter output, CancellationToken cancellationToken)
    {
        var ns = job.Metadata.NamespaceProperty;
        var current = job.Status?.Attempt ?? 1;
        var pod = $"{job.Metadata.Name}-{request.Rank.ToString(CultureInfo.InvariantCulture)}";
        if (request.Attempt is { } asked && asked != current)
        {
            await CopiedAsync(job, request with { Attempt = asked }, stores, output, cancellationToken);
            return;
        }

        var pods = new KubernetesResourceClient<V1Pod>(client);
        var found = await pods.GetAsync(ns, pod, cancellationToken);
        if (found is null || !(found.Metadata.Labels is { } labels && labels.TryGetValue(TrainingJobLabels.JobName, out var owner) && owner == job.Metadata.Name))
        {
            if (job.Spec.Output?.Uri is { Length: > 0 } && TrainingJobStatusIsFinished(job))
            {
                // The pods of a finished job may be cleaned up; the agent's copy outlives them.
                await CopiedAsync(job, request with { Attempt = current }, stores, output, cancellationToken);
                return;
            }

            throw new CliException($"pod {ns}/{pod} (rank {request.Rank} of TrainingJob {job.Metadata.Name}) does not exist; check --rank (0..replicas-1). "
                + "Logs of earlier attempts: --attempt N (copied to spec.output.uri).");
        }

        using var response = await client.CoreV1.ReadNamespacedPodLogWithHttpMessagesAsync(
            pod, ns, container: InClusterPodBuilder.TrainingContainer, follow: request.Follow, cancellationToken: cancellationToken);
        await using var stream = response.Body;
        using var reader = new StreamReader(stream);
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            await output.FlushAsync(cancellationToken);
        }
    }

    /// <summary>Prints the copy of a replica's log the agent left at `&lt;spec.output.uri&gt;/&lt;job&gt;/attempt-N/algo-K.log` (S3 or file://).</summary>
    public static async Task CopiedAsync(TrainingJob job, LogRequest request, ObjectStoreFactory stores, TextWriter output, CancellationToken cancellationToken)
    {
        var attempt = request.Attempt ?? job.Status?.Attempt ?? 1;
        if (job.Spec.Output?.Uri is not { Length: > 0 } outputUri)
        {
            throw new CliException($"TrainingJob {job.Metadata.Name} has no spec.output.uri, so no replica log was copied; only the running attempt's logs can be read.");
        }

        // The attempt's folder holds one log per replica: listing it is one small request.
        var key = ContainerContract.HostName(request.Rank) + ".log";
        var uri = ArtifactLocations.LogUri(outputUri, job.Metadata.Name, attempt, request.Rank);
        var local = Path.Combine(Path.GetTempPath(), $"ferry-logs-{Guid.NewGuid():N}.log");
        try
        {
            using var store = stores.Open(ArtifactLocations.AttemptLogsUri(outputUri, job.Metadata.Name, attempt), "spec.output.uri");
            if (!(await store.ListAsync(cancellationToken)).Any(o => o.Key == key))
            {
                throw new CliException($"no log of rank {request.Rank} in attempt {attempt} at {uri}; check --rank and --attempt (the job is at attempt {job.Status?.Attempt ?? 1}).");
            }

            await store.DownloadAsync(key, local, cancellationToken);
            await using var file = File.OpenRead(local);
            using var reader = new StreamReader(file);
            await output.WriteAsync(await reader.ReadToEndAsync(cancellationToken));
            await output.FlushAsync(cancellationToken);
        }
        finally
        {
            File.Delete(local);
        }
    }

    private static bool TrainingJobStatusIsFinished(TrainingJob job) =>
        Reconciliation.TrainingJobStatusCalculator.IsFinished(job.Status?.Phase);
}
