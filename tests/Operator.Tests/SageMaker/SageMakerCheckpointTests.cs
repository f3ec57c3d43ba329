using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Storage;
using Ferry.Operator.Tests.Fixtures;
using Ferry.SageMakerEmulator.Jobs;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Tests.SageMaker;

/// <summary>
/// What a SageMaker job resumes from: the operator lists the job's checkpoint location in S3 (moto) when an attempt
/// ends or is interrupted, records the newest complete checkpoint in `status.checkpoint`, and names it when the next
/// attempt starts (retry, resume after suspend) or when SageMaker restarts an interrupted spot job itself.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class SageMakerCheckpointTests(MotoS3 moto)
{
    private static bool Phase(TrainingJob? job, TrainingJobPhase phase) => job?.Status?.Phase == phase;

    /// <summary>Checkpoints as SageMaker syncs them from /opt/ml/checkpoints: two complete, one still being written.</summary>
    private async Task<string> CheckpointsAsync()
    {
        var bucket = await moto.CreateBucketAsync();
        await moto.PutTextAsync(bucket, "ckpt/epoch-0001.ckpt", new string('1', 100));
        await moto.PutTextAsync(bucket, "ckpt/epoch-0002.ckpt", new string('2', 200));
        await moto.PutTextAsync(bucket, "ckpt/epoch-0003.ckpt.tmp", new string('3', 50));
        return $"s3://{bucket}/ckpt";
    }

    private SageMakerCheckpoints Checkpoints() => new(moto.Settings, NullLogger.Instance);

    [Fact]
    public async Task A_retry_names_the_newest_complete_checkpoint_and_the_next_attempt_resumes_from_it()
    {
        var uri = await CheckpointsAsync();
        using var checkpoints = Checkpoints();
        await using var h = await SageMakerOperatorHarness.StartAsync(checkpoints: checkpoints);
        h.SageMaker.Scripts.When("retried-*-1", SageMakerOperatorHarness.Script with { Outcome = JobOutcome.Failed, FailureReason = "AlgorithmError: CUDA out of memory" });
        await h.ApplyAsync(SageMakerOperatorHarness.Job("retried", s =>
        {
            s.MaxRetries = 2;
            s.Checkpoint = new CheckpointSpec { Uri = uri };
        }));

        var done = await h.ReconcileUntilAsync("retried", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));

        var checkpoint = done!.Status!.Checkpoint!;
        Assert.Equal(($"{uri}/epoch-0002.ckpt", 2, 200L, 1), (checkpoint.Uri, checkpoint.Epoch!.Value, checkpoint.Size!.Value, checkpoint.Attempt!.Value));
        var events = await h.EventsOfAsync("retried");
        var restarting = Assert.Single(events, e => e.Reason == "Restarting").Message;
        Assert.Contains($"from epoch 2 ({uri}/epoch-0002.ckpt, saved ", restarting, StringComparison.Ordinal);
        Assert.Contains(events, e => e.Reason == "PodsCreated" && e.Message.Contains($"Resuming from epoch 2 ({uri}/epoch-0002.ckpt", StringComparison.Ordinal));
        Assert.Equal(uri, (string)h.Describe(await h.SageMakerNameAsync("retried", 2))["CheckpointConfig"]!["S3Uri"]!);
    }

    [Fact]
    public async Task Resuming_a_suspended_job_says_which_checkpoint_the_new_SageMaker_job_starts_from()
    {
        var uri = await CheckpointsAsync();
        using var checkpoints = Checkpoints();
        await using var h = await SageMakerOperatorHarness.StartAsync(checkpoints: checkpoints);
        await h.ApplyAsync(SageMakerOperatorHarness.Job("paused", s => s.Checkpoint = new CheckpointSpec { Uri = uri }));
        await h.ReconcileUntilAsync("paused", j => Phase(j, TrainingJobPhase.Running));
        var first = await h.SageMakerNameAsync("paused", 1);

        await h.Jobs.PatchAsync(SageMakerOperatorHarness.Namespace, "paused", new V1Patch("{\"spec\":{\"suspend\":true}}", V1Patch.PatchType.MergePatch));
        var suspended = await h.ReconcileUntilAsync("paused", j => Phase(j, TrainingJobPhase.Suspended) && h.Describe(first)["TrainingJobStatus"]!.ToString() == "Stopped"
            && j!.Status!.Checkpoint is not null, TimeSpan.FromSeconds(10));
        Assert.Equal(2, suspended!.Status!.Checkpoint!.Epoch);

        await h.Jobs.PatchAsync(SageMakerOperatorHarness.Namespace, "paused", new V1Patch("{\"spec\":{\"suspend\":false}}", V1Patch.PatchType.MergePatch));
        var resumed = await h.ReconcileUntilAsync("paused", j => j?.Status?.Attempt == 2 && ConditionList.Find(j.Status.Conditions, TrainingJobConditions.Created)?.Message?.Contains("attempt 2", StringComparison.Ordinal) == true);

        Assert.Contains($"Resuming from epoch 2 ({uri}/epoch-0002.ckpt", ConditionList.Find(resumed!.Status!.Conditions, TrainingJobConditions.Created)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_spot_interruption_says_the_job_resumes_from_the_newest_checkpoint_when_capacity_returns()
    {
        var uri = await CheckpointsAsync();
        using var checkpoints = Checkpoints();
        await using var h = await SageMakerOperatorHarness.StartAsync(checkpoints: checkpoints);
        h.SageMaker.Scripts.Default = SageMakerOperatorHarness.Script with { SpotInterruptions = [new SpotInterruption(TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(10))] };
        await h.ApplyAsync(SageMakerOperatorHarness.Job("spot", s =>
        {
            s.Spot = true;
            s.Checkpoint = new CheckpointSpec { Uri = uri };
        }));

        var done = await h.ReconcileUntilAsync("spot", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));

        Assert.Equal(1, done!.Status!.Attempt); // SageMaker restarted the same job
        var interrupted = Assert.Single(await h.EventsOfAsync("spot"), e => e.Reason == "SageMakerInterrupted").Message;
        Assert.Contains($"It resumes from epoch 2 ({uri}/epoch-0002.ckpt, saved ", interrupted, StringComparison.Ordinal);
    }

    [Fact]
    public void The_newest_complete_checkpoint_is_a_file_or_a_whole_directory_never_a_partial_upload()
    {
        var t = new DateTime(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);
        var listed = new[]
        {
            new StoredObject("checkpoint-500/model.safetensors", 1000, t.AddMinutes(1)),
            new StoredObject("checkpoint-500/optimizer.pt", 500, t.AddMinutes(2)),
            new StoredObject("checkpoint-400/model.safetensors", 1000, t),
            new StoredObject("checkpoint-600/model.safetensors.part", 900, t.AddMinutes(3)),
        };

        var newest = CheckpointSync.NewestOf("s3://b/ckpt/", listed.Select(o => new CheckpointSync.CheckpointFile(o.Key, o.Size, o.LastModified!.Value.UtcDateTime)))!;

        Assert.Equal(("s3://b/ckpt/checkpoint-500/", 1500L, 500L), (newest.Uri, newest.Size, newest.Step!.Value));
        Assert.Equal(new DateTimeOffset(t.AddMinutes(2)), newest.SavedAt);
        Assert.Null(CheckpointSync.NewestOf("s3://b/ckpt", [new CheckpointSync.CheckpointFile("epoch-1.ckpt.tmp", 1, t)]));
    }
}
