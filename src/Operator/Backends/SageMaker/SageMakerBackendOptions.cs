namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// The operator's SageMaker settings (configuration section <c>SageMaker</c>, Helm values <c>sageMaker.*</c>): the default
/// region, an endpoint override (a VPC interface endpoint), the role allowlist and how often jobs are polled.
/// </summary>
public sealed record SageMakerBackendOptions
{
    /// <summary>The region of jobs that name none in <c>spec.sageMaker.region</c>; empty: such jobs are refused.</summary>
    public string Region { get; init; } = "";

    /// <summary>An endpoint override for SageMaker calls (a VPC interface endpoint); null uses the public regional endpoint.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>IAM role ARN globs each namespace may pass (<c>*</c> and <c>?</c>); the key <c>*</c> applies to unlisted namespaces.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> AllowedRoles { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>The polling schedule.</summary>
    public SageMakerPolling Polling { get; init; } = new();
}

/// <summary>
/// How the backend watches its jobs. A job is described quickly while it starts (first after <see cref="StartingPoll"/>,
/// then at doubling intervals), and otherwise only when the region's change feed (one ListTrainingJobs call per
/// <see cref="ChangeFeedInterval"/>, shared by every job) shows it changed, or when <see cref="Heartbeat"/> has passed
/// (two while its log grows).
/// Reconciles that find nothing changed make no SageMaker call.
/// </summary>
public sealed record SageMakerPolling
{
    /// <summary>The first interval between describes of a starting job; it doubles with the age of the start-up status.</summary>
    public TimeSpan StartingPoll { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the region's change feed (ListTrainingJobs with LastModifiedTimeAfter) is read.</summary>
    public TimeSpan ChangeFeedInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How often a job's reconcile looks at the change feed (jittered by <see cref="Jitter"/>).</summary>
    public TimeSpan RecheckInterval { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The longest a running job goes without a describe, whatever the feed says; twice as long while it trains and
    /// its log, read since the last describe, keeps growing (the log read shows it alive).
    /// </summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The longest interval between describes while the change feed is unavailable (e.g. ListTrainingJobs not permitted).</summary>
    public TimeSpan PollWithoutFeed { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The share by which every delay is spread at random, so many jobs never poll in step.</summary>
    public double Jitter { get; init; } = 0.2;

    /// <summary>How far back each feed read reaches before the previous read, for clock skew and list consistency.</summary>
    public TimeSpan FeedOverlap { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often a training job's CloudWatch log is read for live metrics (one GetLogEvents per job, jittered): 5 minutes
    /// keeps describes, the change feed and log reads under 30 AWS calls per running job-hour.
    /// </summary>
    public TimeSpan LogsInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>While a stop is pending (suspend, delete), the delay before looking again.</summary>
    public TimeSpan StoppingPoll { get; init; } = TimeSpan.FromSeconds(10);
}
