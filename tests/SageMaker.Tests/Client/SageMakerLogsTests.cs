using Amazon.Runtime;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Cli.Insight;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Jobs;

namespace Ferry.SageMaker.Tests.Client;

/// <summary>`ferry logs` for SageMaker jobs: a replica's CloudWatch Logs stream, from the emulator.</summary>
public sealed class SageMakerLogsTests
{
    [Fact]
    public async Task A_ranks_stream_is_printed_from_its_head_and_a_missing_one_is_explained()
    {
        await using var h = await EmulatorHarness.StartAsync();
        h.Emulator.Scripts.Default = new JobScript
        {
            Starting = TimeSpan.FromSeconds(60),
            Downloading = TimeSpan.FromSeconds(30),
            Training = TimeSpan.FromSeconds(300),
            LogLines =
            [
                new LogLine(TimeSpan.FromSeconds(10), "epoch=1 step=100 train_loss=0.9"),
                new LogLine(TimeSpan.FromSeconds(100), "epoch=2 step=200 train_loss=0.5"),
            ],
        };
        var job = Jobs.SageMaker(s => s.Resources!.Replicas = 2);
        var request = TrainingJobRequestBuilder.Build(job, 1);
        await h.Client.CreateTrainingJobAsync(request);
        job.Status = new TrainingJobStatus { Attempt = 1, SageMaker = new SageMakerStatus { JobName = request.TrainingJobName } };
        using var logs = new CloudWatchLogsClient(new SageMakerClientOptions
        {
            Region = h.Emulator.Options.Region,
            Endpoint = h.Emulator.BaseAddress,
            Credentials = new BasicAWSCredentials(SageMakerApiEmulator.TestCredentials.AccessKeyId, SageMakerApiEmulator.TestCredentials.SecretAccessKey),
            TimeProvider = h.Time,
        });

        var early = await Assert.ThrowsAsync<CliException>(() => SageMakerLogs.ReadAsync(logs, job, new LogRequest("mnist"), _ => Task.FromResult(false), TextWriter.Null, h.Time, CancellationToken.None));
        Assert.Contains("has no log stream for rank 0 yet", early.Message, StringComparison.Ordinal);

        h.Time.Advance(TimeSpan.FromMinutes(10));
        using var output = new StringWriter();
        // Following a job that has ended reads what is there and stops.
        await SageMakerLogs.ReadAsync(logs, job, new LogRequest("mnist", Rank: 1, Follow: true), _ => Task.FromResult(true), output, h.Time, CancellationToken.None);

        Assert.Equal("epoch=1 step=100 train_loss=0.9\nepoch=2 step=200 train_loss=0.5\n", output.ToString().Replace("\r", ""));
        Assert.Empty(h.Emulator.OutputViolations);
    }
}
