using System.Net;
using Amazon.Runtime;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator.Faults;

namespace Ferry.SageMaker.Tests.Client;

/// <summary>Our client against the emulator: signing, typed errors, retries through injected faults, metrics.</summary>
[Collection(MetricsCollection.Name)]
public sealed class SageMakerClientTests
{
    private static string Json<T>(T value) => System.Text.Json.JsonSerializer.Serialize(value, SageMakerJson.Options);

    private static CreateTrainingJobRequest Request(string name) => TrainingJobRequestBuilder.Build(Jobs.SageMaker(name: name), attempt: 1);

    [Fact]
    public async Task CreateThenDescribeReturnsTheJobAsSubmitted()
    {
        await using var h = await EmulatorHarness.StartAsync();
        var request = Request("describe-me");

        var created = await h.Client.CreateTrainingJobAsync(request);
        var described = await h.Client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = request.TrainingJobName });

        Assert.Equal($"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{request.TrainingJobName}", created.TrainingJobArn);
        Assert.Equal(request.TrainingJobName, described.TrainingJobName);
        Assert.Equal(TrainingJobStatusValues.InProgress, described.TrainingJobStatus);
        Assert.Equal(SecondaryStatusValues.Starting, described.SecondaryStatus);
        Assert.Equal(EmulatorHarness.Start, described.CreationTime);
        Assert.Equal(Json(request.AlgorithmSpecification), Json(described.AlgorithmSpecification));
        Assert.Equal(request.ResourceConfig, described.ResourceConfig);
        Assert.Equal($"s3://artifacts/mnist/{request.TrainingJobName}/output/model.tar.gz", described.ModelArtifacts!.S3ModelArtifacts);
        Assert.Empty(h.Emulator.OutputViolations);
    }

    [Fact]
    public async Task ListAndListTagsRoundTrip()
    {
        await using var h = await EmulatorHarness.StartAsync();
        foreach (var name in new[] { "alpha", "beta", "gamma" })
        {
            await h.Client.CreateTrainingJobAsync(Request(name));
            h.Time.Advance(TimeSpan.FromSeconds(1));
        }

        var first = await h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest { MaxResults = 2, SortBy = "CreationTime", SortOrder = "Ascending" });
        var second = await h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest { MaxResults = 2, SortBy = "CreationTime", SortOrder = "Ascending", NextToken = first.NextToken });
        var created = await h.Client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = Request("beta").TrainingJobName });
        var tags = await h.Client.ListTagsAsync(new ListTagsRequest { ResourceArn = created.TrainingJobArn });

        Assert.Equal(["alpha", "beta", "gamma"], first.TrainingJobSummaries.Concat(second.TrainingJobSummaries).Select(s => s.TrainingJobName.Split('-')[0]));
        Assert.Null(second.NextToken);
        Assert.Contains(new Tag(TrainingJobRequestBuilder.UidTag, "0a1b2c3d-0000-4000-8000-000000000042"), tags.Tags);
    }

    [Fact]
    public async Task TypedErrorsForDuplicateUnknownAndInvalidRequests()
    {
        await using var h = await EmulatorHarness.StartAsync();
        var request = Request("typed");
        await h.Client.CreateTrainingJobAsync(request);

        var duplicate = await Assert.ThrowsAsync<ResourceInUseException>(() => h.Client.CreateTrainingJobAsync(request));
        var unknown = await Assert.ThrowsAsync<ResourceNotFoundException>(() => h.Client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = "no-such-job" }));
        var invalid = await Assert.ThrowsAsync<SageMakerValidationException>(() => h.Client.CreateTrainingJobAsync(request with { TrainingJobName = "under_score" }));

        Assert.Equal(HttpStatusCode.BadRequest, duplicate.StatusCode);
        Assert.Contains(request.TrainingJobName, duplicate.ErrorMessage);
        Assert.False(string.IsNullOrEmpty(duplicate.RequestId));
        Assert.Equal("ValidationException", unknown.ErrorCode);
        Assert.Contains("at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern", invalid.ErrorMessage);
        // Each refusal is answered once: none of them is retried.
        Assert.Equal(3, h.Emulator.RequestLog.Count("CreateTrainingJob"));
    }

    [Fact]
    public async Task StopOfAFinishedJobIsAValidationError()
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Scripts.Default = h.Emulator.Scripts.Default with { Training = TimeSpan.FromMinutes(1) };
        var request = Request("finished");
        await h.Client.CreateTrainingJobAsync(request);
        h.Time.Advance(TimeSpan.FromMinutes(5));

        var error = await Assert.ThrowsAsync<SageMakerValidationException>(() => h.Client.StopTrainingJobAsync(new StopTrainingJobRequest { TrainingJobName = request.TrainingJobName }));

        Assert.Contains("Completed", error.ErrorMessage);
    }

    [Fact]
    public async Task WrongSecretUnknownKeyAndWrongRegionAreRefused()
    {
        await using var h = await EmulatorHarness.StartAsync();
        var wrongSecret = h.NewClient(new BasicAWSCredentials(SageMakerEmulator.SageMakerApiEmulator.TestCredentials.AccessKeyId, "not-the-secret"));
        var unknownKey = h.NewClient(new BasicAWSCredentials("AKIDUNKNOWN", "whatever"));
        var wrongRegion = h.NewClient(region: "us-west-2");
        var list = new ListTrainingJobsRequest();

        var signature = await Assert.ThrowsAsync<SageMakerAccessDeniedException>(() => wrongSecret.ListTrainingJobsAsync(list));
        var key = await Assert.ThrowsAsync<SageMakerAccessDeniedException>(() => unknownKey.ListTrainingJobsAsync(list));
        var region = await Assert.ThrowsAsync<SageMakerAccessDeniedException>(() => wrongRegion.ListTrainingJobsAsync(list));

        Assert.Equal(("InvalidSignatureException", HttpStatusCode.Forbidden), (signature.ErrorCode, signature.StatusCode));
        Assert.Contains("signature we calculated does not match", signature.ErrorMessage);
        Assert.Equal("UnrecognizedClientException", key.ErrorCode);
        Assert.Equal("InvalidSignatureException", region.ErrorCode);
        Assert.Contains("region", region.ErrorMessage);
        Assert.Empty(h.Emulator.Jobs.Names);
    }

    [Fact]
    public async Task SessionTokenIsSignedAndChecked()
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Signatures.Add(new("ASIAFERRYSESSION", "session-secret", "the-session-token"));
        var good = h.NewClient(new SessionAWSCredentials("ASIAFERRYSESSION", "session-secret", "the-session-token"));
        var stale = h.NewClient(new SessionAWSCredentials("ASIAFERRYSESSION", "session-secret", "an-old-token"));

        var page = await good.ListTrainingJobsAsync(new ListTrainingJobsRequest());
        var refused = await Assert.ThrowsAsync<SageMakerAccessDeniedException>(() => stale.ListTrainingJobsAsync(new ListTrainingJobsRequest()));

        Assert.Empty(page.TrainingJobSummaries);
        Assert.Equal("UnrecognizedClientException", refused.ErrorCode);
    }

    [Fact]
    public async Task ThrottlingIsRetriedWithGrowingBackoffAndCounted()
    {
        await using var h = await EmulatorHarness.StartAsync();
        using var metrics = new RequestMetrics();
        h.Emulator.Faults.ThrottleNext(3, "ListTrainingJobs");

        var call = h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest());
        var delays = new List<TimeSpan>();
        for (var retry = 0; retry < 3; retry++)
        {
            // The next attempt waits for the backoff delay on the clock: it has not happened before the clock moves.
            var delay = await h.Time.NextTimerAsync(EmulatorHarness.AttemptTimeout).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(retry + 1, h.Emulator.RequestLog.Count("ListTrainingJobs"));
            Assert.False(call.IsCompleted);
            delays.Add(delay);
            h.Time.Advance(delay);
        }

        var page = await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(page.TrainingJobSummaries);
        Assert.Equal(4, h.Emulator.RequestLog.Count("ListTrainingJobs"));
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(20)));
        Assert.Equal(3, metrics.Count("ListTrainingJobs", "ThrottlingException"));
        Assert.Equal(1, metrics.Count("ListTrainingJobs", SageMakerTelemetry.Success));
    }

    [Fact]
    public async Task ServerErrorsAreRetriedUntilTheAttemptsRunOut()
    {
        await using var h = await EmulatorHarness.StartAsync();
        using var metrics = new RequestMetrics();
        h.Emulator.Faults.FailNext(10, 503);

        var call = h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest());
        for (var retry = 0; retry < 3; retry++)
        {
            h.Time.Advance(await h.Time.NextTimerAsync(EmulatorHarness.AttemptTimeout).WaitAsync(TimeSpan.FromSeconds(30)));
        }

        var error = await Assert.ThrowsAsync<SageMakerException>(() => call.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.Equal(4, h.Emulator.RequestLog.Count("ListTrainingJobs"));
        Assert.Equal(4, metrics.Count("ListTrainingJobs", "ServiceUnavailable"));
    }

    [Theory]
    [InlineData(LostResponse.Abort)]
    [InlineData(LostResponse.InternalError)]
    public async Task ALostCreateResponseIsRetriedAndFindsTheJobAlreadyThere(LostResponse mode)
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Faults.LoseNextCreateResponses(1, mode);
        var request = Request("lost");

        var call = h.Client.CreateTrainingJobAsync(request);
        h.Time.Advance(await h.Time.NextTimerAsync(EmulatorHarness.AttemptTimeout).WaitAsync(TimeSpan.FromSeconds(30)));
        var error = await Assert.ThrowsAsync<ResourceInUseException>(() => call.WaitAsync(TimeSpan.FromSeconds(30)));

        // The caller learns the job exists (and adopts it by its ferry.dev/uid tag); there is exactly one.
        Assert.Contains(request.TrainingJobName, error.ErrorMessage);
        Assert.Equal([request.TrainingJobName], h.Emulator.Jobs.Names);
        Assert.Equal(2, h.Emulator.RequestLog.Count("CreateTrainingJob"));
    }

    [Fact]
    public async Task CancellationStopsRetryingAtOnce()
    {
        await using var h = await EmulatorHarness.StartAsync();
        using var metrics = new RequestMetrics();
        h.Emulator.Faults.ThrottleNext(100);
        using var cancel = new CancellationTokenSource();

        var call = h.Client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = "any" }, cancel.Token);
        await h.Time.NextTimerAsync(EmulatorHarness.AttemptTimeout).WaitAsync(TimeSpan.FromSeconds(30));
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, h.Emulator.RequestLog.Count("DescribeTrainingJob"));
        Assert.Equal(1, metrics.Count("DescribeTrainingJob", "ThrottlingException"));
    }

    [Fact]
    public async Task AnAttemptThatHangsTimesOutAndIsRetried()
    {
        await using var h = await EmulatorHarness.StartAsync();
        using var metrics = new RequestMetrics();
        h.Emulator.Faults.Latency = TimeSpan.FromMinutes(10);
        var call = h.Client.ListTrainingJobsAsync(new ListTrainingJobsRequest());

        // The first attempt's timeout timer is created on the fake clock; moving past it abandons the attempt.
        Assert.Equal(EmulatorHarness.AttemptTimeout, await h.Time.NextTimerAsync(TimeSpan.Zero).WaitAsync(TimeSpan.FromSeconds(30)));
        h.Emulator.Faults.Latency = TimeSpan.Zero;
        h.Time.Advance(EmulatorHarness.AttemptTimeout);
        h.Time.Advance(await h.Time.NextTimerAsync(EmulatorHarness.AttemptTimeout).WaitAsync(TimeSpan.FromSeconds(30)));
        var page = await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(page.TrainingJobSummaries);
        Assert.Equal(1, metrics.Count("ListTrainingJobs", "timeout"));
        Assert.Equal(1, metrics.Count("ListTrainingJobs", SageMakerTelemetry.Success));
    }

    [Fact]
    public void EndpointFollowsTheRegionUnlessOverridden()
    {
        Assert.Equal(new Uri("https://api.sagemaker.eu-west-1.amazonaws.com/"), new SageMakerClientOptions { Region = "eu-west-1" }.ResolvedEndpoint);
        Assert.Equal(new Uri("https://api.sagemaker.cn-north-1.amazonaws.com.cn/"), new SageMakerClientOptions { Region = "cn-north-1" }.ResolvedEndpoint);
        Assert.Equal(new Uri("https://vpce-1.api.sagemaker.eu-west-1.vpce.amazonaws.com/"),
            new SageMakerClientOptions { Region = "eu-west-1", Endpoint = new Uri("https://vpce-1.api.sagemaker.eu-west-1.vpce.amazonaws.com/") }.ResolvedEndpoint);
    }
}
