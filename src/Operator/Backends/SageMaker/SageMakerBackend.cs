using System.Collections.Concurrent;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using R = Ferry.Operator.Reconciliation.TrainingJobStatusCalculator.Reasons;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// Runs each attempt of a TrainingJob as one SageMaker training job named <see cref="SageMakerJobName.For"/>
/// (<c>&lt;name&gt;-&lt;uid prefix&gt;-&lt;attempt&gt;</c>). Exactly one job per attempt: the name is a pure function of the
/// resource, the job is described before it is created, and a name already taken is adopted only when its
/// <c>ferry.dev/uid</c> tag is this resource's (a lost create response, an operator restarted between create and status
/// write), else the job fails with reason NameConflict. SageMaker enforces the stopping condition itself. Jobs are
/// polled cheaply (<see cref="SageMakerPolling"/>); suspend and delete call StopTrainingJob.
/// </summary>
public sealed class SageMakerBackend(
    ISageMakerClientFactory clients,
    SageMakerBackendOptions options,
    TimeProvider time,
    ILogger<SageMakerBackend>? logger = null,
    Random? random = null,
    SageMakerCheckpoints? checkpoints = null) : ITrainingBackend
{
    /// <summary>Annotation that, set to <see cref="RetainPolicy"/>, leaves the SageMaker job running when the TrainingJob is deleted.</summary>
    public const string DeletionPolicyAnnotation = "ferry.dev/deletion-policy";

    /// <summary>The <see cref="DeletionPolicyAnnotation"/> value that skips the stop.</summary>
    public const string RetainPolicy = "retain";

    /// <summary>Reasons this backend records.</summary>
    public const string RoleNotAllowed = "RoleNotAllowed";
    public const string NameConflict = "NameConflict";

    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly RoleAllowlist _roles = new(options.AllowedRoles);
    private readonly Random _random = random ?? Random.Shared;
    private readonly object _randomLock = new();
    private readonly ConcurrentDictionary<string, TrainingJobChangeFeed> _feeds = new(StringComparer.Ordinal);

    // The last description of each job, and whether a job of a name is known to be this operator's (true) or another
    // resource's (false). Both only save calls: after a restart they are rebuilt from SageMaker.
    private readonly ConcurrentDictionary<string, Described> _described = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _owned = new(StringComparer.Ordinal);
    private readonly SageMakerLiveMetrics _live = new(options.Polling, time, logger);

    private sealed record Described(DescribeTrainingJobResponse Job, RemoteJobObservation Observation, DateTimeOffset At, DateTimeOffset StateSince);

    /// <inheritdoc />
    public TrainingJobBackend Backend => TrainingJobBackend.SageMaker;

    /// <inheritdoc />
    public bool NeedsFinalizer => true;

    /// <inheritdoc />
    public BackendTraits Traits { get; } = new(RemoteJob: true, EnforcedDeadlines.MaxRuntime | EnforcedDeadlines.MaxWait);

    /// <summary>The live metrics read from the jobs' CloudWatch logs (for tests).</summary>
    public SageMakerLiveMetrics LiveMetrics => _live;

    /// <summary>The change feed of a region (for tests and the benchmark).</summary>
    public TrainingJobChangeFeed FeedFor(string region) =>
        _feeds.GetOrAdd(region, r => new TrainingJobChangeFeed(clients.For(r), options.Polling, time, _logger));

    /// <inheritdoc />
    public string? Validate(TrainingJob job) => ((ITrainingBackend)this).Refuse(job)?.Message;

    /// <inheritdoc />
    public BackendRefusal? Refuse(TrainingJob job)
    {
        var problems = TrainingJobRequestBuilder.Problems(job);
        if (problems.Count > 0)
        {
            return new BackendRefusal(R.InvalidSpec, string.Join("; ", problems.Select(p => p.Message)));
        }

        if (SageMakerLiveMetrics.RuleProblem(job, options.Polling.LogsInterval) is { } rule)
        {
            return new BackendRefusal(R.InvalidSpec, rule);
        }

        if (RegionOf(job).Length == 0)
        {
            return new BackendRefusal(R.InvalidSpec,
                "spec.sageMaker.region is not set and the operator has no default region: set spec.sageMaker.region (e.g. eu-west-1), " +
                "or ask the platform team to set the Helm value sageMaker.region.");
        }

        // Only before the first SageMaker job of the resource: editing the allowlist never kills a job already running.
        if (job.Status?.SageMaker is null
            && _roles.Refusal(job.Metadata.NamespaceProperty ?? "default", job.Spec.SageMaker!.RoleArn!) is { } refusal)
        {
            return new BackendRefusal(RoleNotAllowed, refusal);
        }

        return null;
    }

    /// <inheritdoc />
    public bool MayRunAfterEnd(TrainingJob job) =>
        job.Status?.SageMaker?.Status is TrainingJobStatusValues.InProgress or TrainingJobStatusValues.Stopping;

    /// <inheritdoc />
    public async Task<BackendObservation> ObserveAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var region = RegionOf(job);
        var attempt = Math.Max(job.Status?.Attempt ?? 1, 1);
        var artifacts = Artifacts(job, attempt);
        if (region.Length == 0 || string.IsNullOrEmpty(job.Metadata.Uid) || NeverStarts(job))
        {
            return new BackendObservation([], [], artifacts);
        }

        var client = clients.For(region);
        var feed = FeedFor(region);
        await feed.RefreshIfDueAsync(cancellationToken);
        var observed = new List<RemoteJobObservation>();
        Described? current = null;
        // The previous attempt too: it may still run (a stop after a failed start-up) and must be stopped.
        for (var a = Math.Max(attempt - 1, 1); a <= attempt; a++)
        {
            var described = await DescribeIfDueAsync(job, client, feed, SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid, a), a, cancellationToken);
            if (described is null)
            {
                continue;
            }

            var observation = described.Observation;
            if (a == attempt && IsTraining(described.Job) && !TrainingJobStatusCalculator.IsFinished(job.Status?.Phase) && clients.LogsFor(region) is { } logs)
            {
                observation = observation with { Live = await _live.ReportAsync(job, described.Job, logs, cancellationToken) };
            }
            else if (a != attempt || SageMakerStatusMapping.IsTerminal(described.Job.TrainingJobStatus))
            {
                _live.Forget(described.Job.TrainingJobName);
            }

            observed.Add(observation);
            if (a == attempt)
            {
                current = described;
            }
        }

        return new BackendObservation([], observed, artifacts, PollAfter(current, feed));
    }

    /// <inheritdoc />
    public async Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken)
    {
        var request = TrainingJobRequestBuilder.Build(job, start.Attempt);
        var client = clients.For(RegionOf(job));
        var name = request.TrainingJobName;
        try
        {
            await client.CreateTrainingJobAsync(request, cancellationToken);
            _owned[name] = true;
            _described.TryRemove(name, out _);
            _logger.LogInformation("Created SageMaker training job {JobName} for TrainingJob {Namespace}/{Name} (attempt {Attempt})",
                name, job.Metadata.NamespaceProperty, job.Metadata.Name, start.Attempt);
        }
        catch (ResourceInUseException)
        {
            // Created by an earlier pass whose answer or status write was lost, or by someone else.
            var existing = await client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = name }, cancellationToken);
            if (!await IsOwnAsync(job, client, existing, cancellationToken))
            {
                throw new TrainingJobRefusedException(
                    $"A SageMaker training job named {name} already exists ({existing.TrainingJobArn}) and does not belong to this TrainingJob " +
                    $"(its {TrainingJobRequestBuilder.UidTag} tag is not {job.Metadata.Uid}). SageMaker job names are unique forever in an account " +
                    "and region: rename the TrainingJob (metadata.name) or run it in another region (spec.sageMaker.region).",
                    reason: NameConflict);
            }

            _logger.LogInformation("Adopted SageMaker training job {JobName}: it already existed with this TrainingJob's uid tag", name);
            _described.TryRemove(name, out _);
        }
        catch (SageMakerValidationException e)
        {
            throw new TrainingJobRefusedException(
                $"SageMaker refused to create the training job {name}: {e.ErrorMessage} Fix the spec field it names (see the README's SageMaker mapping table).", e);
        }
        catch (ResourceLimitExceededException e)
        {
            throw new StartBlockedException(
                $"SageMaker refused the training job {name} for an account quota: {e.ErrorMessage} Ask for a higher quota in AWS Service Quotas, " +
                "or choose another spec.resources.instanceType; the operator retries until the start-up deadline.", e);
        }
        catch (SageMakerAccessDeniedException e)
        {
            throw new StartBlockedException(
                $"The operator may not create SageMaker training jobs ({e.ErrorCode}): {e.ErrorMessage} Give the operator's IAM role " +
                "sagemaker:CreateTrainingJob, sagemaker:AddTags and iam:PassRole on spec.sageMaker.roleArn; the operator retries until the start-up deadline.", e);
        }
    }

    /// <inheritdoc />
    public async Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken)
    {
        var client = clients.For(RegionOf(job));
        foreach (var replica in replicas)
        {
            await StopAsync(client, replica.Name, cancellationToken);
        }
    }

    /// <inheritdoc />
    public async Task<TimeSpan?> CleanUpAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var last = Math.Max(job.Status?.Attempt ?? 1, 1);
        var names = Enumerable.Range(1, last).Select(a => SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid, a)).ToList();
        if (job.Metadata.Annotations?.TryGetValue(DeletionPolicyAnnotation, out var policy) == true
            && string.Equals(policy, RetainPolicy, StringComparison.OrdinalIgnoreCase))
        {
            _logger.LogInformation("TrainingJob {Namespace}/{Name} is deleted with {Annotation}: {Policy}; its SageMaker jobs keep running",
                job.Metadata.NamespaceProperty, job.Metadata.Name, DeletionPolicyAnnotation, policy);
            Forget(names);
            return null;
        }

        var region = RegionOf(job);
        if (region.Length == 0 || NeverStarts(job))
        {
            return null; // refused before any job was created
        }

        var client = clients.For(region);
        var pending = false;
        foreach (var name in names)
        {
            if (_described.TryGetValue(name, out var known) && SageMakerStatusMapping.IsTerminal(known.Job.TrainingJobStatus))
            {
                continue;
            }

            DescribeTrainingJobResponse described;
            try
            {
                described = await client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = name }, cancellationToken);
            }
            catch (ResourceNotFoundException)
            {
                continue;
            }

            if (SageMakerStatusMapping.IsTerminal(described.TrainingJobStatus) || !await IsOwnAsync(job, client, described, cancellationToken))
            {
                continue;
            }

            pending = true;
            if (described.TrainingJobStatus == TrainingJobStatusValues.InProgress)
            {
                await StopAsync(client, name, cancellationToken);
            }
        }

        if (pending)
        {
            return Jittered(options.Polling.StoppingPoll);
        }

        Forget(names);
        return null;
    }

    /// <summary>The container trains (or uploads what it trained): its log carries the metrics.</summary>
    private static bool IsTraining(DescribeTrainingJobResponse job) =>
        job.TrainingJobStatus == TrainingJobStatusValues.InProgress
        && job.SecondaryStatus is SecondaryStatusValues.Training or SecondaryStatusValues.Uploading;

    /// <summary>A job refused before its first SageMaker job (bad spec, role not allowed): SageMaker is never called for it.</summary>
    private bool NeverStarts(TrainingJob job) => job.Status?.SageMaker is null && Refuse(job) is not null;

    private async Task<Described?> DescribeIfDueAsync(TrainingJob job, ISageMakerClient client, TrainingJobChangeFeed feed, string name, int attempt, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_described.TryGetValue(name, out var known) && !DescribeDue(known, feed, now))
        {
            return known;
        }

        DescribeTrainingJobResponse response;
        try
        {
            response = await client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = name }, cancellationToken);
        }
        catch (ResourceNotFoundException)
        {
            _described.TryRemove(name, out _);
            return null;
        }

        if (!await IsOwnAsync(job, client, response, cancellationToken))
        {
            return null; // another resource's job: never reported, never stopped; a create of this name fails NameConflict
        }

        var observation = SageMakerStatusMapping.Map(response, attempt, RegionOf(job));
        if (observation.State == ReplicaState.Failed && SageMakerPostMortem.Applies(response))
        {
            // Read once: a terminal job is never described again while this operator runs.
            var redaction = new SecretRedaction(job.Spec.Env ?? new Dictionary<string, string>());
            observation = observation with
            {
                FailureDetails = await SageMakerPostMortem.ReadAsync(response, RegionOf(job), clients.LogsFor(RegionOf(job)), redaction, _logger, cancellationToken),
            };
        }

        if (checkpoints is not null && job.Spec.Checkpoint?.Uri is { Length: > 0 } checkpointUri
            && (observation.State == ReplicaState.Failed || observation.Stopped || response.SecondaryStatus == SecondaryStatusValues.Interrupted))
        {
            // What the next attempt (or the restarted spot job) resumes from: read once per ended attempt, as above.
            observation = observation with { Checkpoint = await checkpoints.NewestAsync(checkpointUri, RegionOf(job), cancellationToken) };
        }

        var stateSince = response.SecondaryStatusTransitions is { Count: > 0 } transitions
            ? transitions[^1].StartTime
            : response.LastModifiedTime ?? response.CreationTime;
        if (known is not null && known.Job.SecondaryStatus == response.SecondaryStatus && known.StateSince < stateSince)
        {
            stateSince = known.StateSince;
        }

        var described = new Described(response, observation, now, stateSince);
        _described[name] = described;
        return described;
    }

    /// <summary>
    /// Whether a describe is due: a starting job at doubling intervals, any job at least every heartbeat, a stopping
    /// job every stopping poll, without the feed at a capped interval, else when the change feed shows a change.
    /// </summary>
    private bool DescribeDue(Described known, TrainingJobChangeFeed feed, DateTimeOffset now)
    {
        var polling = options.Polling;
        var job = known.Job;
        if (SageMakerStatusMapping.IsTerminal(job.TrainingJobStatus))
        {
            return false; // final: it never changes again
        }

        var age = now - known.At;
        if (now >= HeartbeatAt(known))
        {
            return true;
        }

        if (job.TrainingJobStatus == TrainingJobStatusValues.Stopping)
        {
            return age >= polling.StoppingPoll;
        }

        var backoff = Max(polling.StartingPoll, known.At - known.StateSince);
        if (SageMakerStatusMapping.StartingStatuses.Contains(job.SecondaryStatus) && age >= backoff)
        {
            return true;
        }

        if (!feed.Available)
        {
            return age >= Min(backoff, polling.PollWithoutFeed);
        }

        return !feed.Unchanged(job.TrainingJobName, known.At, job.LastModifiedTime);
    }

    /// <summary>When to reconcile again: soon after a start, at the next due describe while starting, else at the recheck interval.</summary>
    private TimeSpan? PollAfter(Described? current, TrainingJobChangeFeed feed)
    {
        var polling = options.Polling;
        if (current is null)
        {
            return Jittered(polling.StartingPoll);
        }

        var job = current.Job;
        if (SageMakerStatusMapping.IsTerminal(job.TrainingJobStatus))
        {
            return null;
        }

        if (job.TrainingJobStatus == TrainingJobStatusValues.Stopping)
        {
            return Jittered(polling.StoppingPoll);
        }

        var now = time.GetUtcNow();
        var backoff = Max(polling.StartingPoll, current.At - current.StateSince);
        TimeSpan delay;
        if (SageMakerStatusMapping.StartingStatuses.Contains(job.SecondaryStatus))
        {
            delay = Min(current.At + backoff - now, polling.RecheckInterval);
        }
        else if (!feed.Available)
        {
            delay = current.At + Min(backoff, polling.PollWithoutFeed) - now;
        }
        else
        {
            delay = Min(polling.RecheckInterval, HeartbeatAt(current) - now);
        }

        return Jittered(Max(delay, TimeSpan.FromSeconds(1)));
    }

    /// <summary>
    /// When a job is described whatever the change feed says: a heartbeat after the last describe; two while it trains
    /// and its log, read since that describe, keeps growing — the log read already shows it alive, and the feed still
    /// reports its changes (it keeps them three heartbeats, longer than two). This spares a 15-minute job's only
    /// heartbeat and a long job half of them (3 of 6 describes per training hour at the default 10 minutes).
    /// </summary>
    private DateTimeOffset HeartbeatAt(Described known)
    {
        var heartbeat = options.Polling.Heartbeat;
        var job = known.Job;
        var alive = job.TrainingJobStatus == TrainingJobStatusValues.InProgress && job.SecondaryStatus == SecondaryStatusValues.Training
            && _live.LogGrewSince(job.TrainingJobName, known.At);
        return known.At + (alive ? 2 * heartbeat : heartbeat);
    }

    private async Task<bool> IsOwnAsync(TrainingJob job, ISageMakerClient client, DescribeTrainingJobResponse described, CancellationToken cancellationToken)
    {
        var name = described.TrainingJobName;
        if (_owned.TryGetValue(name, out var own))
        {
            return own;
        }

        if (job.Status?.SageMaker?.Arn is { } recorded && recorded == described.TrainingJobArn)
        {
            _owned[name] = true;
            return true;
        }

        string? uid = null;
        string? token = null;
        do
        {
            var page = await client.ListTagsAsync(new ListTagsRequest { ResourceArn = described.TrainingJobArn, NextToken = token }, cancellationToken);
            uid ??= page.Tags.FirstOrDefault(t => t.Key == TrainingJobRequestBuilder.UidTag)?.Value;
            token = page.NextToken;
        }
        while (uid is null && token is { Length: > 0 });

        own = uid == job.Metadata.Uid;
        _owned[name] = own;
        if (!own)
        {
            _logger.LogWarning("SageMaker training job {JobName} exists but belongs to another resource ({Tag}={Uid})", name, TrainingJobRequestBuilder.UidTag, uid ?? "(none)");
        }

        return own;
    }

    private async Task StopAsync(ISageMakerClient client, string name, CancellationToken cancellationToken)
    {
        if (_owned.TryGetValue(name, out var own) && !own)
        {
            return;
        }

        try
        {
            await client.StopTrainingJobAsync(new StopTrainingJobRequest { TrainingJobName = name }, cancellationToken);
            _logger.LogInformation("Stopping SageMaker training job {JobName}", name);
        }
        catch (Exception e) when (e is SageMakerValidationException or ResourceNotFoundException)
        {
            // Not in progress any more (already stopping or ended), or gone: nothing to stop.
        }

        _described.TryRemove(name, out _);
    }

    private void Forget(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            _described.TryRemove(name, out _);
            _owned.TryRemove(name, out _);
            _live.Forget(name);
        }
    }

    private string RegionOf(TrainingJob job) => job.Spec.SageMaker?.Region is { Length: > 0 } region ? region : options.Region;

    private static ArtifactsStatus? Artifacts(TrainingJob job, int attempt)
    {
        if (string.IsNullOrEmpty(job.Metadata.Uid) || job.Spec.Output?.Uri is not { Length: > 0 } output)
        {
            return job.Spec.Checkpoint is { } c ? new ArtifactsStatus { Checkpoints = c.Uri } : null;
        }

        return new ArtifactsStatus
        {
            Output = ArtifactLocations.OutputUri(output, SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid, attempt)),
            Checkpoints = job.Spec.Checkpoint?.Uri,
        };
    }

    private TimeSpan Jittered(TimeSpan delay)
    {
        double share;
        lock (_randomLock)
        {
            share = (_random.NextDouble() * 2 - 1) * options.Polling.Jitter;
        }

        return delay * (1 + share);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
