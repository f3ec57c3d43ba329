using System.Security.Cryptography;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Cli;
using Ferry.Operator.Cli.Insight;
using Ferry.Operator.Tests.Fixtures;
using Ferry.Operator.Tests.Insight.Report;
using Ferry.Operator.Tests.Local;

namespace Ferry.Operator.Tests.Insight.Lineage;

/// <summary>
/// Lineage, the report and the logs of a real Local run (agent processes, a training script printing metric lines):
/// inputs and outputs in S3 (moto_server), so the model's SHA-256 and size are checked against the stored object.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class LocalLineageTests(MotoS3 moto) : IDisposable
{
    private readonly LocalRun _run = new("ferry-lineage-");

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task A_Local_run_records_lineage_equal_to_the_S3_objects_writes_the_report_and_keeps_each_attempts_log()
    {
        var bucket = await moto.CreateBucketAsync();
        await moto.PutTextAsync(bucket, "data/train/a", "12345");
        await moto.PutTextAsync(bucket, "data/train/b", "1234567890");
        await moto.PutTextAsync(bucket, "data/test/c", "xyz");
        var script = _run.Script("train.sh", """
            head -c 5000 /dev/urandom > "$SM_MODEL_DIR/weights.bin"
            echo "epoch=1 step=10 train_loss=0.9000"
            echo "epoch=1 step=20 train_loss=0.8000 val_loss=0.8500 val_accuracy=0.6000"
            echo "epoch=2 step=30 train_loss=0.6000 val_loss=0.7000 val_accuracy=0.7000"
            echo "rank $RANK done"
            """);
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: lineage
            spec:
              backend: Local
              command: ["{{script}}"]
              hyperParameters: {lr: "0.01", epochs: "2"}
              experiment: {name: fmnist, trial: lr-001}
              rules:
                - {name: target, type: MetricThreshold, metric: val_accuracy, value: 0.65, comparison: GreaterThan, action: None}
              inputs:
                - {name: train, uri: "s3://{{bucket}}/data/train"}
                - {name: test, uri: "s3://{{bucket}}/data/test"}
              output: {uri: "s3://{{bucket}}/out"}
              resources: {replicas: 2}
            """);

        var job = await _run.RunJobAsync(environment: moto.ProcessEnvironment);

        Assert.Equal(TrainingJobPhase.Succeeded, job.Status!.Phase);
        var lineage = job.Status.Lineage!;
        var stored = await moto.GetBytesAsync(bucket, "out/lineage/output/model.tar.gz");
        Assert.Equal($"s3://{bucket}/out/lineage/output/model.tar.gz", lineage.Model!.Uri);
        Assert.Equal(stored.LongLength, lineage.Model.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(stored)), lineage.Model.Sha256);
        Assert.Equal([("train", 2L, 15L), ("test", 1L, 3L)], lineage.Inputs!.Select(i => (i.Name, i.Objects, i.Bytes)));
        Assert.Equal($"s3://{bucket}/data/train", lineage.Inputs![0].Uri);
        Assert.Equal(TrainingJobBackend.Local, lineage.Backend);
        Assert.Equal(new Dictionary<string, string> { ["lr"] = "0.01", ["epochs"] = "2" }, lineage.HyperParameters);
        Assert.Equal(1, lineage.Attempts);
        Assert.Equal(job.Status.StartTime, lineage.StartTime);
        Assert.Equal(job.Status.CompletionTime, lineage.CompletionTime);
        Assert.NotNull(lineage.CompletionTime);

        // The report beside the model, linked from status, with the metric curves and the rule's verdict.
        Assert.Equal($"s3://{bucket}/out/lineage/output/report.html", job.Status.Artifacts!.Report);
        var report = TrainingReportTests.Parse(System.Text.Encoding.UTF8.GetString(await moto.GetBytesAsync(bucket, "out/lineage/output/report.html")));
        XNamespaceCheck(report, lineage.Model.Sha256!);

        // ferry logs --local: the latest attempt's rank 1 log, and attempt 1 asked for by number.
        var (exit, output, error) = await LogsAsync(new LogRequest("", Rank: 1));
        Assert.True(exit == 0, error);
        Assert.Contains("rank 1 done", output, StringComparison.Ordinal);
        Assert.DoesNotContain("rank 0 done", output, StringComparison.Ordinal);
        (exit, output, error) = await LogsAsync(new LogRequest("", Rank: 0, Attempt: 1));
        Assert.True(exit == 0, error);
        Assert.Contains("rank 0 done", output, StringComparison.Ordinal);
        (exit, _, error) = await LogsAsync(new LogRequest("", Rank: 0, Attempt: 2));
        Assert.Equal(1, exit);
        Assert.Contains("no log of rank 0 in attempt 2", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ferry_run_prints_where_the_report_is()
    {
        var script = _run.Script("train.sh", """
            echo "epoch=1 step=5 train_loss=0.5000 val_loss=0.6000 val_accuracy=0.7000"
            echo "epoch=2 step=10 train_loss=0.4000 val_loss=0.5000 val_accuracy=0.8000"
            """);
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: printed
            spec:
              backend: Local
              command: ["{{script}}"]
              output: {uri: "file://./out"}
            """);

        var (exit, output, error) = await _run.RunCommandAsync();

        Assert.True(exit == 0, error);
        var report = Path.Combine(_run.Directory, "out", "printed", "output", "report.html");
        Assert.Contains($"report: {report}\n", output.Replace("\r", ""), StringComparison.Ordinal);
        Assert.Equal(2, TrainingReportTests.Parse(await File.ReadAllTextAsync(report)).Descendants().Count(e => e.Name.LocalName == "figure"));
    }

    private static void XNamespaceCheck(System.Xml.Linq.XDocument report, string sha)
    {
        System.Xml.Linq.XNamespace x = "http://www.w3.org/1999/xhtml";
        Assert.Equal(["Loss", "Accuracy"], report.Descendants(x + "figure").Select(f => (string?)f.Attribute("data-chart")));
        Assert.Equal("true", (string?)report.Descendants(x + "tr").Single(r => (string?)r.Attribute("data-rule") == "target").Attribute("data-fired"));
        Assert.Contains(sha, report.Root!.Value, StringComparison.Ordinal);
    }

    private async Task<(int Exit, string Output, string Error)> LogsAsync(LogRequest request)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await LogsCommand.RunAsync(new LogsOptions("tj/lineage", request, Local: true, _run.WorkDirectory, new ClusterConnection(null, null, null)),
            output, error, TimeProvider.System, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }
}
