using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.SageMaker;
using S = Ferry.Operator.SageMaker.SecondaryStatusValues;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// What a DescribeTrainingJob answer means for the status function (pure): TrainingJobStatus and SecondaryStatus → the
/// attempt's state, FinalMetricDataList → metrics, ModelArtifacts → the model URI, and SageMaker's own fields for
/// <c>status.sageMaker</c>. The table is in the README ("SageMaker status mapping").
/// </summary>
public static class SageMakerStatusMapping
{
    /// <summary>Secondary statuses of a job that has not started training (yet, or again after a spot interruption).</summary>
    public static readonly IReadOnlySet<string> StartingStatuses = new HashSet<string>(StringComparer.Ordinal)
    {
        S.Starting, S.Pending, S.LaunchingMLInstances, S.PreparingTrainingStack, S.Downloading, S.DownloadingTrainingImage,
        S.Interrupted, S.Restarting,
    };

    /// <summary>Whether a TrainingJobStatus is final.</summary>
    public static bool IsTerminal(string status) =>
        status is TrainingJobStatusValues.Completed or TrainingJobStatusValues.Failed or TrainingJobStatusValues.Stopped;

    /// <summary>The observation of attempt <paramref name="attempt"/> from its DescribeTrainingJob answer.</summary>
    public static RemoteJobObservation Map(DescribeTrainingJobResponse job, int attempt, string region)
    {
        var (state, failure) = StateOf(job);
        var model = job.TrainingJobStatus == TrainingJobStatusValues.Completed ? job.ModelArtifacts?.S3ModelArtifacts : null;
        return new RemoteJobObservation(
            job.TrainingJobName,
            attempt,
            state,
            Stopping: job.TrainingJobStatus == TrainingJobStatusValues.Stopping,
            Stopped: job.TrainingJobStatus == TrainingJobStatusValues.Stopped,
            StartedAt: state == ReplicaState.Pending ? null : (job.TrainingStartTime ?? job.CreationTime).UtcDateTime,
            FailureReason: failure,
            Metrics: Metrics(job),
            ModelUri: model,
            Details: Details(job, region),
            Transitions: [.. (job.SecondaryStatusTransitions ?? []).Select(t => new RemoteTransition(t.Status, t.StartTime.UtcDateTime, t.StatusMessage))]);
    }

    /// <summary>The attempt's state, and why it failed when it did.</summary>
    public static (ReplicaState State, string? FailureReason) StateOf(DescribeTrainingJobResponse job) => job.TrainingJobStatus switch
    {
        TrainingJobStatusValues.Completed => (ReplicaState.Succeeded, null),
        TrainingJobStatusValues.Failed => (ReplicaState.Failed, Cut(job.FailureReason is { Length: > 0 } reason ? reason : "The SageMaker training job failed without a reason.")),
        TrainingJobStatusValues.Stopped => (ReplicaState.Failed, job.SecondaryStatus switch
        {
            S.MaxRuntimeExceeded => "SageMaker stopped the job: it ran longer than spec.stoppingCondition.maxRuntimeSeconds (MaxRuntimeInSeconds); raise the limit or make training shorter.",
            S.MaxWaitTimeExceeded => "SageMaker stopped the job: waiting for spot capacity and running took longer than spec.stoppingCondition.maxWaitSeconds (MaxWaitTimeInSeconds); raise the limit or set spec.spot: false.",
            _ => Cut(job.FailureReason is { Length: > 0 } stopped
                ? $"The SageMaker training job was stopped: {stopped}"
                : "The SageMaker training job was stopped outside Ferry (StopTrainingJob from the console or the API)."),
        }),
        _ when StartingStatuses.Contains(job.SecondaryStatus) => (ReplicaState.Pending, null),
        _ => (ReplicaState.Running, null),
    };

    /// <summary>The job's final metrics (SageMaker reports them as the job ends), or null.</summary>
    public static IReadOnlyList<ObservedMetric>? Metrics(DescribeTrainingJobResponse job) =>
        job.FinalMetricDataList is { Count: > 0 } list
            ? [.. list.Where(m => m.MetricName is { Length: > 0 } && m.Value is not null)
                .Select(m => new ObservedMetric(m.MetricName!, m.Value!.Value, m.Timestamp ?? job.TrainingEndTime ?? job.LastModifiedTime ?? job.CreationTime))]
            : null;

    /// <summary><c>status.sageMaker</c> for the job.</summary>
    public static SageMakerStatus Details(DescribeTrainingJobResponse job, string region) => new()
    {
        JobName = job.TrainingJobName,
        Arn = job.TrainingJobArn,
        Status = job.TrainingJobStatus,
        SecondaryStatus = job.SecondaryStatus,
        BillableSeconds = job.BillableTimeInSeconds,
        TrainingSeconds = job.TrainingTimeInSeconds,
        SpotSavingsPercent = job.EnableManagedSpotTraining == true && job is { TrainingTimeInSeconds: > 0, BillableTimeInSeconds: { } billable }
            ? (int)Math.Clamp(Math.Round(100.0 * (1 - (double)billable / job.TrainingTimeInSeconds.Value)), 0, 100)
            : null,
        FailureReason = job.FailureReason is { Length: > 0 } reason ? Cut(reason) : null,
        LogsUrl = LogsUrl(region, job.TrainingJobName),
    };

    /// <summary>The AWS console page of the job's CloudWatch log streams (group <c>/aws/sagemaker/TrainingJobs</c>, streams named after the job).</summary>
    public static string LogsUrl(string region, string jobName)
    {
        var host = region.StartsWith("cn-", StringComparison.Ordinal) ? $"console.amazonaws.cn" : $"{region}.console.aws.amazon.com";
        return $"https://{host}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D{jobName}";
    }

    private static string Cut(string text) =>
        text.Length <= TerminationMessage.FailureReasonBytes ? text : text[..TerminationMessage.FailureReasonBytes];
}
