using System.Collections.Concurrent;
using Ferry.Operator.SageMaker;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// Which training jobs of a region changed lately, from one ListTrainingJobs call (filtered by LastModifiedTimeAfter)
/// every <see cref="SageMakerPolling.ChangeFeedInterval"/>, shared by every job of the region: a job the feed shows
/// unchanged needs no DescribeTrainingJob. Reads chain (each reaches back to the previous read, less an overlap for
/// clock skew), so every change after the first read is seen. Read lazily by the reconciles that need it, one at a time.
/// </summary>
public sealed class TrainingJobChangeFeed(ISageMakerClient client, SageMakerPolling polling, TimeProvider time, ILogger? logger = null)
{
    private const int PageSize = 100;
    private const int MaxPages = 100;

    private readonly ConcurrentDictionary<string, DateTimeOffset> _modified = new(StringComparer.OrdinalIgnoreCase);
    private readonly SemaphoreSlim _reading = new(1, 1);
    private DateTimeOffset? _coverageStart;
    private DateTimeOffset? _lastRead;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;

    /// <summary>Whether the last read succeeded (ListTrainingJobs may be denied to the operator's role, or throttled).</summary>
    public bool Available { get; private set; }

    /// <summary>ListTrainingJobs calls made (pages included).</summary>
    public long Reads { get; private set; }

    /// <summary>Reads the feed when the last read is older than the interval; a failure leaves it unavailable until the next success.</summary>
    public async Task RefreshIfDueAsync(CancellationToken cancellationToken)
    {
        if (time.GetUtcNow() - _lastAttempt < polling.ChangeFeedInterval)
        {
            return;
        }

        await _reading.WaitAsync(cancellationToken);
        try
        {
            var sent = time.GetUtcNow();
            if (sent - _lastAttempt < polling.ChangeFeedInterval)
            {
                return; // another reconcile just read it
            }

            _lastAttempt = sent;
            var after = (_lastRead ?? sent) - polling.FeedOverlap;
            string? token = null;
            var pages = 0;
            do
            {
                Reads++;
                var page = await client.ListTrainingJobsAsync(new ListTrainingJobsRequest
                {
                    LastModifiedTimeAfter = after,
                    MaxResults = PageSize,
                    NextToken = token,
                }, cancellationToken);
                foreach (var summary in page.TrainingJobSummaries)
                {
                    var modified = summary.LastModifiedTime ?? summary.CreationTime;
                    _modified.AddOrUpdate(summary.TrainingJobName, modified, (_, known) => known > modified ? known : modified);
                }

                token = page.NextToken;
            }
            while (token is { Length: > 0 } && ++pages < MaxPages);

            _coverageStart ??= sent;
            _lastRead = sent;
            Available = true;
            Prune(sent);
        }
        catch (Exception e) when (e is SageMakerException or HttpRequestException or TimeoutException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Available = false;
            logger?.LogWarning("SageMaker ListTrainingJobs failed; jobs are described on a fixed schedule until it works again: {Message}", e.Message);
        }
        finally
        {
            _reading.Release();
        }
    }

    /// <summary>
    /// Whether the job <paramref name="jobName"/>, described at <paramref name="describedAt"/> with LastModifiedTime
    /// <paramref name="lastModified"/>, is known not to have changed since (as far as the last read saw).
    /// </summary>
    public bool Unchanged(string jobName, DateTimeOffset describedAt, DateTimeOffset? lastModified)
    {
        if (!Available || _coverageStart is not { } coverage || describedAt < coverage)
        {
            return false;
        }

        return !_modified.TryGetValue(jobName, out var modified) || (lastModified is { } known && modified <= known);
    }

    // A change older than a few heartbeats is covered by a describe made after it: its entry is no longer needed.
    private void Prune(DateTimeOffset now)
    {
        var horizon = now - 3 * polling.Heartbeat - polling.FeedOverlap;
        foreach (var (name, modified) in _modified)
        {
            if (modified < horizon)
            {
                _modified.TryRemove(name, out _);
            }
        }
    }
}
