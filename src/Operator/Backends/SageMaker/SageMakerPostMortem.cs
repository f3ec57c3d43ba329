using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Operator.Agent;
using Ferry.Operator.Reconciliation.Policies;
using Ferry.Operator.SageMaker;
using Microsoft.Extensions.Logging;
using S = Ferry.Operator.SageMaker.SecondaryStatusValues;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// What a failed SageMaker job leaves for its post-mortem beyond FailureReason: the secondary status it failed in (the
/// last of its SecondaryStatusTransitions before the end), the host that failed, a console link to that host's
/// CloudWatch log stream (<c>/aws/sagemaker/TrainingJobs</c>, stream <c>&lt;job&gt;/algo-N-&lt;epoch&gt;</c>) and the
/// stream's last lines, secrets masked. SageMaker does not say which host failed: it is the one FailureReason names
/// (<c>algo-2</c>), else the one whose output shows an error first (a crashed rank errors before the ranks that wait
/// for it time out), else the first host.
/// </summary>
public static partial class SageMakerPostMortem
{
    /// <summary>The most log lines kept, as for a replica's tail.</summary>
    public const int TailLines = 20;

    /// <summary>The most bytes kept of those lines.</summary>
    public const int TailBytes = 2048;

    /// <summary>How many hosts' streams are read to find the one that failed (large jobs: the first ones).</summary>
    public const int HostsRead = 16;

    private static readonly HashSet<string> Endings = new(StringComparer.Ordinal)
    {
        S.Completed, S.Failed, S.Stopped, S.Stopping, S.MaxRuntimeExceeded, S.MaxWaitTimeExceeded,
    };

    /// <summary>Whether the job ended in a failure worth a post-mortem: it failed, or SageMaker stopped it at a limit.</summary>
    public static bool Applies(DescribeTrainingJobResponse job) =>
        job.TrainingJobStatus == TrainingJobStatusValues.Failed
        || (job.TrainingJobStatus == TrainingJobStatusValues.Stopped && job.SecondaryStatus is S.MaxRuntimeExceeded or S.MaxWaitTimeExceeded);

    /// <summary>The secondary status the job was in when it failed (e.g. Training, Downloading), or null.</summary>
    public static string? FailedTransition(DescribeTrainingJobResponse job) =>
        (job.SecondaryStatusTransitions ?? []).Select(t => t.Status).LastOrDefault(s => !Endings.Contains(s));

    /// <summary>The AWS console page of one log stream of <c>/aws/sagemaker/TrainingJobs</c> (the link SageMaker's console opens per instance).</summary>
    public static string StreamUrl(string region, string stream)
    {
        var host = region.StartsWith("cn-", StringComparison.Ordinal) ? "console.amazonaws.cn" : $"{region}.console.aws.amazon.com";
        return $"https://{host}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FTrainingJobs/log-events/{Encode(stream)}";
    }

    /// <summary>
    /// The post-mortem of <paramref name="job"/>. Reading the logs is best effort: without them (no permission, CloudWatch
    /// failing) the details still name the failed transition and link the job's streams.
    /// </summary>
    public static async Task<RemoteFailureDetails> ReadAsync(
        DescribeTrainingJobResponse job, string region, ICloudWatchLogsClient? logs, SecretRedaction redaction, ILogger logger, CancellationToken cancellationToken)
    {
        var transition = FailedTransition(job);
        var fallback = new RemoteFailureDetails(transition, SageMakerStatusMapping.LogsUrl(region, job.TrainingJobName));
        if (logs is null)
        {
            return fallback;
        }

        try
        {
            var streams = await StreamsByHostAsync(logs, job.TrainingJobName, cancellationToken);
            if (streams.Count == 0)
            {
                return fallback; // it failed before any container printed (e.g. while downloading)
            }

            var named = job.FailureReason is { } reason ? HostName().Matches(reason).Select(m => int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture)).FirstOrDefault(streams.ContainsKey) : 0;
            List<int> read = named > 0 ? [named] : [.. streams.Keys.Order().Take(HostsRead)];
            var tails = new Dictionary<int, IReadOnlyList<OutputLogEvent>>();
            foreach (var host in read)
            {
                var page = await logs.GetLogEventsAsync(new GetLogEventsRequest
                {
                    LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup,
                    LogStreamName = streams[host],
                    Limit = TailLines,
                    StartFromHead = false,
                }, cancellationToken);
                tails[host] = page.Events;
            }

            var failing = named > 0 ? named : FirstToErr(tails) ?? read[0];
            var lines = tails[failing]
                .SelectMany(e => (e.Message ?? "").TrimEnd('\n').Split('\n'))
                .TakeLast(TailLines)
                .Select(redaction.Apply)
                .ToList();
            return new RemoteFailureDetails(transition, StreamUrl(region, streams[failing]), ReplicaLog.Fit(lines, TailBytes), $"algo-{failing.ToString(CultureInfo.InvariantCulture)}");
        }
        catch (Exception e) when (e is SageMakerException or HttpRequestException or TimeoutException)
        {
            logger.LogWarning(e, "Could not read the CloudWatch logs of failed SageMaker job {JobName}; its post-mortem links the job's log streams only", job.TrainingJobName);
            return fallback;
        }
    }

    /// <summary>The newest stream of each host (a spot-interrupted job opens new ones when it restarts), by host number.</summary>
    private static async Task<Dictionary<int, string>> StreamsByHostAsync(ICloudWatchLogsClient logs, string jobName, CancellationToken cancellationToken)
    {
        var newest = new Dictionary<int, (long Created, string Name)>();
        string? token = null;
        do
        {
            var page = await logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest
            {
                LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup,
                LogStreamNamePrefix = jobName + "/",
                NextToken = token,
            }, cancellationToken);
            foreach (var stream in page.LogStreams)
            {
                if (stream.LogStreamName is { } name && StreamName().Match(name[(jobName.Length + 1)..]) is { Success: true } match)
                {
                    var host = int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
                    var created = stream.CreationTime ?? 0;
                    if (!newest.TryGetValue(host, out var known) || known.Created < created)
                    {
                        newest[host] = (created, name);
                    }
                }
            }

            token = page.NextToken;
        }
        while (token is { Length: > 0 });

        return newest.ToDictionary(p => p.Key, p => p.Value.Name);
    }

    /// <summary>The host whose output shows an error line first, or null when none does.</summary>
    private static int? FirstToErr(Dictionary<int, IReadOnlyList<OutputLogEvent>> tails) => tails
        .Select(t => (Host: t.Key, At: t.Value.Where(e => e.Message is { } m && ErrorLine().IsMatch(m)).Select(e => e.Timestamp ?? long.MaxValue).DefaultIfEmpty(long.MaxValue).Min()))
        .Where(t => t.At < long.MaxValue)
        .OrderBy(t => t.At).ThenBy(t => t.Host)
        .Select(t => (int?)t.Host)
        .FirstOrDefault();

    // The CloudWatch console's fragment encoding: '/' is %2F, whose '%' is written '$25'.
    private static string Encode(string stream) => stream.Replace("/", "$252F", StringComparison.Ordinal);

    [GeneratedRegex(@"^algo-(?<n>[1-9][0-9]*)-[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex StreamName();

    [GeneratedRegex(@"\balgo-(?<n>[1-9][0-9]*)\b", RegexOptions.CultureInvariant)]
    private static partial Regex HostName();

    [GeneratedRegex(@"Traceback|\b\w*(?:Error|Exception)\b|\bFATAL\b|Segmentation fault|exited with code", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorLine();
}
