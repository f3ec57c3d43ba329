using Amazon.Runtime;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;

namespace Ferry.SageMaker.Tests.Protocol;

/// <summary>
/// A second, independent protocol check: moto's SageMaker (shallow, but its own reading of the JSON 1.1 shapes) accepts
/// the requests our client sends for every SageMaker sample, and answers in shapes our client reads.
/// </summary>
public sealed class MotoCrossCheckTests
{
    [Fact]
    public async Task MotoAcceptsTheRequestOfEverySageMakerSample()
    {
        await using var moto = await MotoServer.StartAsync();
        var samples = Jobs.SageMakerSamples();
        Assert.NotEmpty(samples);

        foreach (var file in samples)
        {
            var job = Jobs.Sample(file);
            var region = job.Spec.SageMaker?.Region ?? "us-east-1";
            using var client = new SageMakerClient(new SageMakerClientOptions
            {
                Region = region,
                Endpoint = moto.Endpoint,
                Credentials = new BasicAWSCredentials("test", "test"),
                MaxAttempts = 1,
            });
            var request = TrainingJobRequestBuilder.Build(job, attempt: 1);

            var created = await client.CreateTrainingJobAsync(request);
            var described = await client.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = request.TrainingJobName });
            var listed = await client.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = request.TrainingJobName[..10] });
            var tags = await client.ListTagsAsync(new ListTagsRequest { ResourceArn = created.TrainingJobArn });

            Assert.EndsWith($":training-job/{request.TrainingJobName}", created.TrainingJobArn);
            Assert.Contains($":{region}:", created.TrainingJobArn);
            Assert.Equal(request.TrainingJobName, described.TrainingJobName);
            Assert.Equal(request.ResourceConfig!.InstanceCount, described.ResourceConfig!.InstanceCount);
            Assert.Equal(request.AlgorithmSpecification!.TrainingImage, described.AlgorithmSpecification!.TrainingImage);
            Assert.Contains(listed.TrainingJobSummaries, s => s.TrainingJobName == request.TrainingJobName);
            Assert.Contains(new Tag(TrainingJobRequestBuilder.UidTag, job.Metadata.Uid), tags.Tags);
        }
    }
}
