using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Tests.Fixtures;

namespace Ferry.Operator.Tests.Local;

/// <summary>The Local backend reads channels from and writes the model to s3:// URIs (an S3 service: moto_server).</summary>
[Collection(MotoCollection.Name)]
public sealed class LocalS3Tests(MotoS3 moto) : IDisposable
{
    private readonly LocalRun _run = new("ferry-local-s3-");

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task Channels_sharded_by_key_come_from_S3_and_the_model_goes_to_SageMakers_layout_there()
    {
        var bucket = await moto.CreateBucketAsync();
        foreach (var part in new[] { "part-0", "part-1", "part-2" })
        {
            await moto.PutTextAsync(bucket, $"data/train/{part}", part);
        }

        var script = _run.Script("list.sh", """
            ls "$SM_CHANNEL_TRAIN" > "$SM_MODEL_DIR/shard-$RANK.txt"
            if [ "$RANK" = 1 ]; then sleep 1; fi
            """);
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: from-s3
            spec:
              backend: Local
              command: ["{{script}}"]
              inputs:
                - name: train
                  uri: s3://{{bucket}}/data/train
                  distribution: ShardedByS3Key
              output:
                uri: s3://{{bucket}}/artifacts
              resources:
                replicas: 2
            """);

        var job = await _run.RunJobAsync(environment: moto.ProcessEnvironment);

        Assert.Equal(TrainingJobPhase.Succeeded, job.Status!.Phase);
        Assert.Equal($"s3://{bucket}/artifacts/from-s3/output/model.tar.gz", job.Status.Artifacts!.Model);
        var archive = _run.PathOf("model.tar.gz");
        await File.WriteAllBytesAsync(archive, await moto.GetBytesAsync(bucket, "artifacts/from-s3/output/model.tar.gz"));
        var entries = await LocalRun.ReadArchiveAsync(archive);
        Assert.Equal("part-0\npart-2\n", Encoding.UTF8.GetString(entries["shard-0.txt"]));

        // Rank 1's model directory is not uploaded (only rank 0's is), but its shard is the rest.
        var rank1 = await File.ReadAllTextAsync(Path.Combine(_run.WorkDirectory, "from-s3", "attempt-1", "algo-2", "model", "shard-1.txt"));
        Assert.Equal("part-1\n", rank1);
    }
}
