using Amazon.Runtime;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Jobs;

namespace Ferry.SageMaker.Tests.Client;

/// <summary>Our CloudWatch Logs client reads a training job's log streams from the emulator, following them as they grow.</summary>
public sealed class CloudWatchLogsClientTests
{
    private static readonly JobScript Script = new()
    {
        Starting = TimeSpan.FromSeconds(60),
        Downloading = TimeSpan.FromSeconds(30),
        Training = TimeSpan.FromSeconds(300),
        LogLines =
        [
            new LogLine(TimeSpan.FromSeconds(10), "epoch=1 step=100 train_loss=0.9"),
            new LogLine(TimeSpan.FromSeconds(100), "epoch=2 step=200 train_loss=0.5 val_loss=0.6 val_accuracy=0.8"),
            new LogLine(TimeSpan.FromSeconds(200), "epoch=3 step=300 train_loss=0.3 val_loss=0.4 val_accuracy=0.88"),
        ],
    };

    private static CloudWatchLogsClient LogsClient(EmulatorHarness h) => new(new SageMakerClientOptions
    {
        Region = h.Emulator.Options.Region,
        Endpoint = h.Emulator.BaseAddress,
        Credentials = new BasicAWSCredentials(SageMakerApiEmulator.TestCredentials.AccessKeyId, SageMakerApiEmulator.TestCredentials.SecretAccessKey),
        TimeProvider = h.Time,
    });

    [Fact]
    public async Task StreamsAppearWithTrainingAndFollowTheLog()
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Scripts.Default = Script;
        using var logs = LogsClient(h);
        var request = TrainingJobRequestBuilder.Build(Jobs.SageMaker(s => s.Resources!.Replicas = 2), 1);
        await h.Client.CreateTrainingJobAsync(request);
        var byPrefix = new DescribeLogStreamsRequest { LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup, LogStreamNamePrefix = request.TrainingJobName + "/" };

        var beforeTraining = await logs.DescribeLogStreamsAsync(byPrefix);
        h.Time.Advance(TimeSpan.FromSeconds(90 + 150));
        var streams = await logs.DescribeLogStreamsAsync(byPrefix);
        var stream = streams.LogStreams[0].LogStreamName!;
        var head = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup, LogStreamName = stream, StartFromHead = true });
        var nothingNew = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup, LogStreamName = stream, NextToken = head.NextForwardToken });
        h.Time.Advance(TimeSpan.FromMinutes(5));
        var rest = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup, LogStreamName = stream, NextToken = head.NextForwardToken });

        Assert.Empty(beforeTraining.LogStreams);
        var start = EmulatorHarness.Start.AddSeconds(90).ToUnixTimeSeconds();
        Assert.Equal([$"{request.TrainingJobName}/algo-1-{start}", $"{request.TrainingJobName}/algo-2-{start}"], streams.LogStreams.Select(s => s.LogStreamName));
        Assert.Equal(["epoch=1 step=100 train_loss=0.9", "epoch=2 step=200 train_loss=0.5 val_loss=0.6 val_accuracy=0.8"], head.Events.Select(e => e.Message));
        Assert.Equal(EmulatorHarness.Start.AddSeconds(100).ToUnixTimeMilliseconds(), head.Events[0].Timestamp);
        Assert.Empty(nothingNew.Events);
        Assert.Equal(head.NextForwardToken, nothingNew.NextForwardToken);
        Assert.Equal(["epoch=3 step=300 train_loss=0.3 val_loss=0.4 val_accuracy=0.88"], rest.Events.Select(e => e.Message));
        Assert.Empty(h.Emulator.OutputViolations);
    }

    [Fact]
    public async Task UnknownStreamsAndGroupsAreResourceNotFound()
    {
        await using var h = await EmulatorHarness.StartAsync();
        using var logs = LogsClient(h);

        var stream = await Assert.ThrowsAsync<ResourceNotFoundException>(() => logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup, LogStreamName = "none/algo-1-1" }));
        var group = await Assert.ThrowsAsync<ResourceNotFoundException>(() => logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest { LogGroupName = "/aws/other" }));
        var invalid = await Assert.ThrowsAsync<SageMakerValidationException>(() => logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest { LogGroupName = CloudWatchLogsClient.TrainingJobsLogGroup, Limit = 51 }));

        Assert.Equal("ResourceNotFoundException", stream.ErrorCode);
        Assert.Equal("ResourceNotFoundException", group.ErrorCode);
        Assert.Equal("ValidationException", invalid.ErrorCode);
        Assert.Contains("at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50", invalid.ErrorMessage);
    }

    [Fact]
    public async Task ALogsCallSignedForSageMakerIsRefused()
    {
        await using var h = await EmulatorHarness.StartAsync();
        var body = """{"logGroupName":"/aws/sagemaker/TrainingJobs"}"""u8.ToArray();
        var signing = new Amazon.Runtime.Signing.AWSSigningRequest { HttpMethod = HttpMethod.Post, RequestUri = h.Emulator.BaseAddress, Content = body };
        signing.Headers["Content-Type"] = AwsJsonClient.ContentType;
        signing.Headers["X-Amz-Target"] = "Logs_20140328.DescribeLogStreams";
        var credentials = SageMakerApiEmulator.TestCredentials;
        var signature = Amazon.Runtime.Signing.AWSSigV4Signer.Sign(signing, new Amazon.Runtime.Signing.AWSSigV4Parameters
        {
            Credentials = new BasicAWSCredentials(credentials.AccessKeyId, credentials.SecretAccessKey),
            Region = Amazon.RegionEndpoint.GetBySystemName(h.Emulator.Options.Region),
            Service = "sagemaker",
            SignedAt = h.Time.GetUtcNow().UtcDateTime,
        });
        using var message = new HttpRequestMessage(HttpMethod.Post, h.Emulator.BaseAddress) { Content = new ByteArrayContent(body) };
        message.Content.Headers.TryAddWithoutValidation("Content-Type", AwsJsonClient.ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", "Logs_20140328.DescribeLogStreams");
        foreach (var (name, value) in signature.Headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        using var http = new HttpClient();
        using var response = await http.SendAsync(message);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
        var error = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        Assert.Equal("InvalidSignatureException", (string?)error["__type"]);
        Assert.Contains("scoped to correct service: 'logs'", (string?)error["message"]);
    }

    [Fact]
    public void EndpointFollowsTheRegion() =>
        Assert.Equal(new Uri("https://logs.eu-west-1.amazonaws.com/"), new CloudWatchLogsClient(new SageMakerClientOptions { Region = "eu-west-1" }).Endpoint);
}
