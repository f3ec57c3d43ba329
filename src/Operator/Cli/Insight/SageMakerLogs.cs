using Ferry.Crds.V1Alpha1;
using Ferry.Operator.SageMaker;

namespace Ferry.Operator.Cli.Insight;

/// <summary>
/// A SageMaker job's replica log from CloudWatch Logs: the stream `&lt;SageMaker job&gt;/algo-K-&lt;epoch seconds&gt;` of the
/// group /aws/sagemaker/TrainingJobs (K = rank + 1), read from its head; following polls for new events until the
/// TrainingJob has finished and a last read brought nothing new.
/// </summary>
public static class SageMakerLogs
{
    /// <summary>How often a followed stream is read again (CloudWatch Logs ingests in batches of seconds).</summary>
    public static readonly TimeSpan FollowInterval = TimeSpan.FromSeconds(5);

    /// <summary>Prints the log; <paramref name="finished"/> says whether the TrainingJob has ended (asked while following).</summary>
    public static async Task ReadAsync(ICloudWatchLogsClient logs, TrainingJob job, LogRequest request, Func<CancellationToken, Task<bool>> finished,
        TextWriter output, TimeProvider time, CancellationToken cancellationToken)
    {
        var attempt = request.Attempt ?? job.Status?.Attempt ?? 1;
        var jobName = request.Attempt is null || request.Attempt == job.Status?.Attempt
            ? job.Status?.SageMaker?.JobName ?? SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid ?? "", attempt)
            : SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid ?? "", attempt);
        var prefix = $"{jobName}/{Contract.ContainerContract.HostName(request.Rank)}-";
        string? stream = null;
        string? token = null;
        while (true)
        {
            var ended = !request.Follow || await finished(cancellationToken);
            stream ??= (await logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest
            {
                LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup,
                LogStreamNamePrefix = prefix,
            }, cancellationToken)).LogStreams.Select(s => s.LogStreamName).LastOrDefault(n => n is not null);
            if (stream is not null)
            {
                // Page forward until the token stops moving: then everything ingested so far was printed.
                while (true)
                {
                    var page = await logs.GetLogEventsAsync(new GetLogEventsRequest
                    {
                        LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup,
                        LogStreamName = stream,
                        StartFromHead = token is null ? true : null,
                        NextToken = token,
                    }, cancellationToken);
                    foreach (var e in page.Events)
                    {
                        await output.WriteLineAsync(e.Message);
                    }

                    var moved = page.NextForwardToken != token;
                    token = page.NextForwardToken;
                    if (!moved || page.Events.Count == 0)
                    {
                        break;
                    }
                }

                await output.FlushAsync(cancellationToken);
            }
            else if (!request.Follow)
            {
                throw new CliException($"SageMaker job {jobName} has no log stream for rank {request.Rank} yet ({CloudWatchLogsClient.TrainingJobsLogGroup}/{prefix}*): "
                    + "it has not started training, or check --rank (0..replicas-1) and --attempt.");
            }

            if (ended)
            {
                return;
            }

            await Task.Delay(FollowInterval, time, cancellationToken);
        }
    }
}
