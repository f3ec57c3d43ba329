using System.Collections.Concurrent;
using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Insight;
using Ferry.Operator.SageMaker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// Live metrics of a running SageMaker job from its first instance's CloudWatch Logs stream
/// (<c>/aws/sagemaker/TrainingJobs</c>, <c>&lt;job&gt;/algo-1-&lt;epoch seconds&gt;</c>), parsed with the job's metric
/// definitions as SageMaker parses them (<see cref="LiveMetricRecorder"/>, the same code as the agent and Local).
/// At most one read per <see cref="SageMakerPolling.LogsInterval"/> per job: one DescribeLogStreams to find the stream,
/// then one GetLogEvents per interval following <c>nextForwardToken</c>, so no event is read twice while the operator
/// runs. Each value is numbered by its event's time and its place among the values of that millisecond
/// (<see cref="SequenceOf"/>), so `status.metricSource` (stream name and sequence) is a cursor that survives an operator
/// restart: the new operator reads from that millisecond on and drops what the status already holds. A read that finds
/// new lines also tells the backend the job still trains (<see cref="LogGrewSince"/>), which spares a describe heartbeat.
/// </summary>
public sealed class SageMakerLiveMetrics(SageMakerPolling polling, TimeProvider time, ILogger? logger = null)
{
    /// <summary>The rank whose output carries the metrics (SageMaker's first host, rank 0).</summary>
    public const string Rank0Host = "algo-1";

    /// <summary>Values one millisecond of log can number (the sequence is <c>milliseconds × this + ordinal</c>).</summary>
    public const long PerMillisecond = 1_000_000;

    /// <summary>The most GetLogEvents pages one read follows when pages come back full (10,000 events or 1 MB each).</summary>
    public const int MaxPagesPerRead = 3;

    private readonly ConcurrentDictionary<string, Tail> _tails = new(StringComparer.Ordinal);
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>The sequence number of the <paramref name="ordinal"/>-th value (from 0) logged at <paramref name="timestamp"/> (epoch ms).</summary>
    public static long SequenceOf(long timestamp, int ordinal) => timestamp * PerMillisecond + ordinal;

    /// <summary>
    /// Why a rule cannot work on SageMaker's log stream, or null: a Hang or StartDeadline rule shorter than two reads
    /// of the log would fire between reads on a healthy job.
    /// </summary>
    public static string? RuleProblem(TrainingJob job, TimeSpan logsInterval)
    {
        var rules = job.Spec.Rules ?? [];
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (rule.Type is TrainingRuleType.Hang or TrainingRuleType.StartDeadline && rule.Seconds is { } seconds
                && TimeSpan.FromSeconds(seconds) < logsInterval * 2)
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"spec.rules[{i}].seconds ({seconds}) is too short for a SageMaker job: its metrics are read from CloudWatch Logs every " +
                    $"{logsInterval.TotalSeconds:0} s (the operator setting SageMaker:Polling:LogsSeconds), so a {rule.Type} rule needs at least " +
                    $"{(logsInterval * 2).TotalSeconds:0} s; raise spec.rules[{i}].seconds.");
            }
        }

        return null;
    }

    /// <summary>
    /// What the job's rank 0 reported that the status does not hold yet (reading the log when a read is due), or null
    /// when nothing is known. Only for a job in SageMaker's Training (or Uploading) status.
    /// </summary>
    public async Task<LiveReport?> ReportAsync(TrainingJob job, DescribeTrainingJobResponse described, ICloudWatchLogsClient logs, CancellationToken cancellationToken)
    {
        var name = described.TrainingJobName;
        var tail = _tails.GetOrAdd(name, _ => new Tail(new LiveMetricRecorder(Definitions(job), capacity: 1)));
        var now = time.GetUtcNow();
        var source = job.Status?.MetricSource;
        await tail.Gate.WaitAsync(cancellationToken);
        try
        {
            if (tail.ReadAt is not { } last || now - last >= Jittered(name, tail.Reads))
            {
                tail.ReadAt = now;
                tail.Reads++;
                await ReadAsync(tail, name, source, logs, cancellationToken);
            }

            if (tail.Stream is null)
            {
                return null;
            }

            // What the status recorded is dropped; the rest waits until a status write takes it.
            var cursor = source is { } s && s.Replica == tail.Stream ? s.Sequence : 0;
            tail.Pending.RemoveAll(p => p.Sequence <= cursor);
            return tail.Pending.Count == 0 && tail.Recorder.Progress is null
                ? null
                : new LiveReport(tail.Stream, [.. tail.Pending], tail.Recorder.Progress);
        }
        finally
        {
            tail.Gate.Release();
        }
    }

    /// <summary>
    /// Whether the job's log was read after <paramref name="since"/> and that latest read found new lines: the job was
    /// still writing output then. The backend stretches its describe heartbeat on it (the log read is the liveness check).
    /// </summary>
    public bool LogGrewSince(string sageMakerJobName, DateTimeOffset since) =>
        _tails.TryGetValue(sageMakerJobName, out var tail) && tail.ReadAt is { } read && read > since && tail.LastReadFoundLines;

    /// <summary>Forgets a SageMaker job (ended, or its resource deleted).</summary>
    public void Forget(string sageMakerJobName) => _tails.TryRemove(sageMakerJobName, out _);

    /// <summary>Jobs whose log is being followed (for tests).</summary>
    public int Following => _tails.Count;

    private async Task ReadAsync(Tail tail, string name, MetricSourceStatus? source, ICloudWatchLogsClient logs, CancellationToken cancellationToken)
    {
        try
        {
            if (tail.Stream is null)
            {
                var streams = await logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest
                {
                    LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup,
                    LogStreamNamePrefix = $"{name}/{Rank0Host}-",
                    Limit = 1,
                }, cancellationToken);
                if (streams.LogStreams.FirstOrDefault()?.LogStreamName is not { Length: > 0 } stream)
                {
                    return; // the container has not started training yet: look again at the next read
                }

                tail.Stream = stream;
                if (source is { } s && s.Replica == stream && s.Sequence > 0)
                {
                    // After a restart: from the millisecond of the last recorded value (those values are dropped again).
                    tail.StartTime = s.Sequence / PerMillisecond;
                }
            }

            tail.LastReadFoundLines = false;
            for (var page = 0; page < MaxPagesPerRead; page++)
            {
                var response = await logs.GetLogEventsAsync(new GetLogEventsRequest
                {
                    LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup,
                    LogStreamName = tail.Stream,
                    NextToken = tail.Token,
                    StartTime = tail.Token is null ? tail.StartTime : null,
                    StartFromHead = true,
                }, cancellationToken);
                foreach (var e in response.Events)
                {
                    Observe(tail, e);
                }

                tail.LastReadFoundLines |= response.Events.Count > 0;

                var moved = response.NextForwardToken is { Length: > 0 } next && next != tail.Token;
                tail.Token = response.NextForwardToken ?? tail.Token;
                if (!moved || response.Events.Count < 10_000)
                {
                    break; // at the end of the stream (CloudWatch answers the same token when nothing is new)
                }
            }
        }
        catch (Exception e) when (e is SageMakerException or HttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            // Logs not readable (no logs:GetLogEvents for the operator, throttled beyond retries): metrics arrive at the end.
            _logger.LogWarning("Reading the CloudWatch log of SageMaker training job {JobName} failed ({Message}); live metrics resume at the next read",
                name, e.Message);
        }
    }

    private static void Observe(Tail tail, OutputLogEvent e)
    {
        if (e.Message is not { } message || e.Timestamp is not { } timestamp)
        {
            return;
        }

        var before = tail.Recorder.Sequence;
        tail.Recorder.Observe(message, DateTimeOffset.FromUnixTimeMilliseconds(timestamp));
        var values = tail.Recorder.After(before);
        if (values.Count == 0)
        {
            return;
        }

        if (timestamp != tail.LastTimestamp)
        {
            tail.LastTimestamp = timestamp;
            tail.Ordinal = 0;
        }

        foreach (var value in values)
        {
            tail.Pending.Add(value with { Sequence = SequenceOf(timestamp, tail.Ordinal++) });
        }

        // Bounded as the history is: the oldest values of a metric go first.
        foreach (var name in values.Select(v => v.Name))
        {
            if (tail.Pending.Count(p => p.Name == name) > MetricHistory.DefaultCapacity)
            {
                tail.Pending.Remove(tail.Pending.First(p => p.Name == name));
            }
        }
    }

    // Reads of many jobs spread over the interval, the same spread on every read of one job.
    private TimeSpan Jittered(string name, int reads)
    {
        var hash = 2166136261u;
        foreach (var ch in name)
        {
            hash = (hash ^ ch) * 16777619u;
        }

        var share = (new Random((int)(hash ^ (uint)reads)).NextDouble() * 2 - 1) * polling.Jitter;
        return polling.LogsInterval * (1 + share);
    }

    private static IEnumerable<AgentMetricDefinition> Definitions(TrainingJob job)
    {
        IEnumerable<Crds.V1Alpha1.MetricDefinition> definitions = job.Spec.MetricDefinitions is { Count: > 0 } declared ? declared : Crds.V1Alpha1.MetricDefinition.Defaults;
        return definitions.Select(d => new AgentMetricDefinition(d.Name, d.Regex));
    }

    private sealed class Tail(LiveMetricRecorder recorder)
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public LiveMetricRecorder Recorder { get; } = recorder;
        public List<LivePoint> Pending { get; } = [];
        public string? Stream { get; set; }
        public string? Token { get; set; }
        public long? StartTime { get; set; }
        public DateTimeOffset? ReadAt { get; set; }
        public int Reads { get; set; }
        public bool LastReadFoundLines { get; set; }
        public long LastTimestamp { get; set; } = -1;
        public int Ordinal { get; set; }
    }
}
