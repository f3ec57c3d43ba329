using System.Diagnostics;
using Ferry.Operator.Tests.SageMaker;

namespace Ferry.Operator.Tests.E2E;

/// <summary>
/// Runs scripts/e2e-sagemaker.sh (what `make e2e-sagemaker` runs): both emulators, the real `ferry operator` process
/// and the real kubectl applying the SageMaker sample, then waiting for Complete.
/// </summary>
public sealed class SageMakerScenarioTests
{
    [Fact]
    public async Task The_SageMaker_sample_completes_through_kubectl_the_operator_process_and_the_SageMaker_emulator()
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(SageMakerOperatorHarness.RepositoryRoot, "scripts", "e2e-sagemaker.sh"));
        start.Environment["FERRY_E2E_NO_BUILD"] = "1";
        start.Environment["CONFIGURATION"] = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;

        Assert.True(process.ExitCode == 0, $"scripts/e2e-sagemaker.sh exited {process.ExitCode}:\n{output}");
        Assert.Contains("trainingjob.ferry.dev/fashion-mnist-sagemaker condition met", output, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^fashion-mnist-sagemaker\s+SageMaker\s+Succeeded\s", output);
        Assert.Matches(@"(?m)^artifacts\.model: s3://ferry-artifacts-example/fashion-mnist/fashion-mnist-sagemaker-[0-9a-f]{8}-1/output/model\.tar\.gz$", output);
        // train_loss and val_accuracy end as FinalMetricDataList says. epoch and val_loss come only from the job's log
        // (live metrics, read every few minutes of the operator's clock): this job trains for seconds of real time, so
        // whether a read fell inside them varies; SageMakerLiveMetricsTests checks the live path on a fake clock.
        Assert.Matches(@"(?m)^metrics: (epoch=[0-9]+ )?train_loss=0\.25 val_accuracy=0\.(9|8999)[0-9]*( val_loss=\S+)? ?$", output);
    }
}
