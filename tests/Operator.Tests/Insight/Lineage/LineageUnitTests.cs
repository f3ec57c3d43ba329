using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Insight.Lineage;
using Ferry.Operator.Reconciliation;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Insight.Lineage;

/// <summary>The pure parts of lineage: image digests, experiment labels, the termination message's room for lineage.</summary>
public sealed class LineageUnitTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("docker-pullable://ghcr.io/x/trainer@sha256:" + Hex, "sha256:" + Hex)]
    [InlineData("ghcr.io/x/trainer@sha256:" + Hex, "sha256:" + Hex)]
    [InlineData("sha256:" + Hex, "sha256:" + Hex)]
    [InlineData("docker.io/library/busybox@SHA256:" + Hex, null)]
    [InlineData("ghcr.io/x/trainer:1.0", null)]
    [InlineData("sha256:abc", null)]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void The_digest_comes_from_the_containers_imageID(string? imageId, string? digest) =>
        Assert.Equal(digest, ImageDigests.Of(imageId));

    [Fact]
    public void Labels_follow_spec_experiment_and_leave_jobs_without_one_alone()
    {
        TrainingJob With(ExperimentSpec? experiment, Dictionary<string, string>? labels) =>
            Job("x").With(j => { j.Spec.Experiment = experiment; j.Metadata.Labels = labels; }).Build();

        Assert.Empty(LineageRecorder.Labels(With(null, new() { [TrainingJobLabels.Experiment] = "mine" })));
        Assert.Equal(new Dictionary<string, string?> { [TrainingJobLabels.Experiment] = "fm", [TrainingJobLabels.Trial] = "t1" },
            LineageRecorder.Labels(With(new ExperimentSpec { Name = "fm", Trial = "t1" }, null)));
        Assert.Empty(LineageRecorder.Labels(With(new ExperimentSpec { Name = "fm", Trial = "t1" },
            new() { [TrainingJobLabels.Experiment] = "fm", [TrainingJobLabels.Trial] = "t1", ["team"] = "a" })));
        // A trial label someone set by hand on a job whose spec names no trial is removed; a wrong experiment corrected.
        Assert.Equal(new Dictionary<string, string?> { [TrainingJobLabels.Experiment] = "fm", [TrainingJobLabels.Trial] = null },
            LineageRecorder.Labels(With(new ExperimentSpec { Name = "fm" }, new() { [TrainingJobLabels.Experiment] = "other", [TrainingJobLabels.Trial] = "t" })));
        // Experiment names may be 120 characters, label values only 63: such a name is not a label.
        Assert.Empty(LineageRecorder.Labels(With(new ExperimentSpec { Name = new string('e', 64) }, null)));
    }

    [Fact]
    public void Lineage_reported_once_stays_after_the_pods_are_gone()
    {
        var spec = Job("x").With(j => j.Spec.Inputs = [new InputChannel { Name = "train", Uri = "s3://b/train" }]).Build().Spec;
        var status = new TrainingJobStatus();
        var rank0 = new ReplicaObservation("x-0", 0, 1, ReplicaState.Succeeded, ModelUri: "s3://b/out/x/output/model.tar.gz")
        {
            Inputs = [new InputReport("train", 3, 30)],
            ModelDigest = new ModelDigest(10, Hex),
            ReportUri = "s3://b/out/x/output/report.html",
            ImageDigest = "sha256:" + Hex,
        };
        LineageRecorder.Record(spec, status, [rank0], 1);
        LineageRecorder.Record(spec, status, [], 1);

        Assert.Equal(("s3://b/train", 3L, 30L), (status.Lineage!.Inputs![0].Uri, status.Lineage.Inputs[0].Objects, status.Lineage.Inputs[0].Bytes));
        Assert.Equal((10L, Hex), (status.Lineage.Model!.Size, status.Lineage.Model.Sha256));
        Assert.Equal("sha256:" + Hex, status.Lineage.ImageDigest);
        Assert.Equal("s3://b/out/x/output/report.html", status.Artifacts!.Report);
    }

    [Fact]
    public void The_termination_message_keeps_the_model_digest_and_report_within_4_KB_inputs_giving_way_before_the_log_tail()
    {
        var message = new TerminationMessage(1, new string('f', 1024),
            [.. Enumerable.Range(0, 40).Select(i => new ObservedMetric($"metric_with_a_long_name_{i:00}", i, T0))],
            "s3://bucket/" + new string('p', 200) + "/model.tar.gz")
        {
            LogTail = string.Join('\n', Enumerable.Range(0, 20).Select(i => $"line {i} " + new string('l', 90))),
            Logs = "s3://bucket/out/x/attempt-1/algo-1.log",
            Inputs = [.. Enumerable.Range(0, 20).Select(i => new InputReport($"channel-{i:00}-" + new string('c', 50), 1_000_000, 1_000_000_000_000))],
            ModelDigest = new ModelDigest(123_456_789, Hex),
            Report = "s3://bucket/" + new string('p', 200) + "/report.html",
        };

        var json = message.Serialize();
        var parsed = TerminationMessage.Parse(json, 1)!;

        Assert.True(Encoding.UTF8.GetByteCount(json) <= TerminationMessage.MaximumBytes, $"{Encoding.UTF8.GetByteCount(json)} bytes");
        Assert.Equal(message.ModelDigest, parsed.ModelDigest);
        Assert.Equal(message.Report, parsed.Report);
        Assert.Null(parsed.Metrics);
        // The last channels gave way, only as many as needed, before any line of the tail.
        var kept = parsed.Inputs ?? [];
        Assert.InRange(kept.Count, 0, message.Inputs.Count - 1);
        Assert.Equal(message.Inputs.Take(kept.Count), kept);
        Assert.Equal(message.LogTail, parsed.LogTail);

        // Without the tail and the failure (a success), the inputs fit and come back whole.
        var success = (message with { ExitCode = 0, FailureReason = null, LogTail = null }).Serialize();
        var inputs = TerminationMessage.Parse(success, 0)!.Inputs;
        Assert.True(Encoding.UTF8.GetByteCount(success) <= TerminationMessage.MaximumBytes);
        Assert.Equal(message.Inputs, inputs);
    }
}
