using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Insight;
using Ferry.Operator.Runtime.Telemetry;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Backends.InCluster;

/// <summary>
/// Pulls a running job's live metrics from its rank-0 pod, as Prometheus scrapes a target: at most once per
/// <see cref="InClusterOptions.LiveMetricsInterval"/> per job, `GET http://&lt;pod IP&gt;:&lt;port&gt;/ferry/v1/metrics?after=N`
/// where N is the cursor the status recorded, so only new values travel and an operator restart (or a new leader)
/// continues where the status left off. An answer counts only when it names the job's uid and the uid of the very pod
/// polled: a pod that now holds a recycled IP, or any other pod, can never put its values into another job's status.
/// Only the leader polls (it is the one that reconciles).
/// </summary>
public sealed class LiveMetricsPoller(HttpClient http, TimeProvider time, InClusterOptions options, ILogger? logger = null)
{
    /// <summary>How long one poll may take.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static readonly Counter<long> Polls = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.live_metrics.polls", description: "Polls of rank 0's live metrics, by result (ok, refused: the answer named another job or pod, error).");

    private readonly ConcurrentDictionary<string, Poll> _polls = new(StringComparer.Ordinal);
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>Answers refused because they named another job or pod (for tests and diagnostics).</summary>
    public int Refused => _refused;

    private int _refused;

    /// <summary>
    /// The latest report of <paramref name="pod"/> (the current attempt's running rank 0 of <paramref name="job"/>),
    /// polling it when the interval has passed; and when to look again.
    /// </summary>
    public async Task<(LiveReport? Report, TimeSpan PollAfter)> ReportAsync(TrainingJob job, V1Pod pod, CancellationToken cancellationToken)
    {
        var jobUid = job.Metadata.Uid ?? "";
        var podUid = pod.Metadata.Uid ?? "";
        var now = time.GetUtcNow();
        if (_polls.TryGetValue(jobUid, out var last) && last.PodUid == podUid && now - last.At < options.LiveMetricsInterval)
        {
            return (last.Report, options.LiveMetricsInterval - (now - last.At));
        }

        var cursor = job.Status?.MetricSource is { } source && source.Replica == podUid ? source.Sequence : 0;
        var report = await FetchAsync(job, pod, cursor, cancellationToken);
        _polls[jobUid] = new Poll(podUid, now, report ?? (last?.PodUid == podUid ? last.Report : null));
        Sweep(now);
        return (_polls[jobUid].Report, options.LiveMetricsInterval);
    }

    /// <summary>Forgets a job that has no running rank 0 any more.</summary>
    public void Forget(string? jobUid)
    {
        if (jobUid is not null)
        {
            _polls.TryRemove(jobUid, out _);
        }
    }

    private async Task<LiveReport?> FetchAsync(TrainingJob job, V1Pod pod, long cursor, CancellationToken cancellationToken)
    {
        var ip = pod.Status?.PodIP;
        if (string.IsNullOrEmpty(ip))
        {
            return null;
        }

        var host = ip.Contains(':', StringComparison.Ordinal) ? $"[{ip}]" : ip;
        var uri = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{host}:{options.LiveMetricsPort}{LiveMetricsDocument.Path}?after={cursor}"));
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            using var response = await http.GetAsync(uri, timeout.Token);
            response.EnsureSuccessStatusCode();
            var document = LiveMetricsDocument.Parse(await response.Content.ReadAsStringAsync(timeout.Token));
            if (document is null || document.JobUid != job.Metadata.Uid || document.PodUid != pod.Metadata.Uid)
            {
                Interlocked.Increment(ref _refused);
                Polls.Add(1, new KeyValuePair<string, object?>("result", "refused"));
                _logger.LogWarning(
                    "Refused the live metrics answer from {Address} for TrainingJob {Namespace}/{Name}: it names job {AnsweredJob} and pod {AnsweredPod}, not {Job} and {Pod}",
                    uri.Authority, job.Metadata.NamespaceProperty, job.Metadata.Name, document?.JobUid, document?.PodUid, job.Metadata.Uid, pod.Metadata.Uid);
                return null;
            }

            Polls.Add(1, new KeyValuePair<string, object?>("result", "ok"));
            return document.ToReport(time.GetUtcNow());
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
        {
            // The agent is not serving yet, or the network refuses (NetworkPolicy): metrics arrive at the end instead.
            Polls.Add(1, new KeyValuePair<string, object?>("result", "error"));
            _logger.LogDebug("Polling live metrics of TrainingJob {Namespace}/{Name} at {Address} failed: {Message}",
                job.Metadata.NamespaceProperty, job.Metadata.Name, uri.Authority, e.Message);
            return null;
        }
    }

    // Jobs deleted while running are never observed again: their entries go after ten intervals.
    private void Sweep(DateTimeOffset now)
    {
        foreach (var (uid, poll) in _polls)
        {
            if (now - poll.At > options.LiveMetricsInterval * 10)
            {
                _polls.TryRemove(uid, out _);
            }
        }
    }

    private sealed record Poll(string PodUid, DateTimeOffset At, LiveReport? Report);
}
