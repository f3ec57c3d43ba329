using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Jobs;

namespace Ferry.SageMaker.Tests.Protocol;

/// <summary>boto3, an independent client, drives the emulator: it speaks the real protocol and refuses what SageMaker refuses.</summary>
public sealed class Boto3Tests
{
    [Fact]
    public async Task Boto3CreatesDescribesListsStopsAndIsRefusedLikeSageMakerRefuses()
    {
        // boto3 signs with the wall clock, so the emulator's clock starts there (and only moves when told).
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var emulator = await SageMakerApiEmulator.StartAsync(new SageMakerApiEmulatorOptions { TimeProvider = time, Region = "eu-west-1" });
        var credentials = SageMakerApiEmulator.TestCredentials;
        emulator.Scripts.When("boto-*", new JobScript
        {
            Starting = TimeSpan.Zero,
            Downloading = TimeSpan.Zero,
            LogLines = [new LogLine(TimeSpan.Zero, "epoch=1 step=10 train_loss=0.5")],
        });

        var steps = await RunAsync("boto3_drive.py", emulator.BaseAddress.ToString().TrimEnd('/'), "eu-west-1", credentials.AccessKeyId, credentials.SecretAccessKey, "boto-job-1");

        Assert.Equal("arn:aws:sagemaker:eu-west-1:123456789012:training-job/boto-job-1", (string?)steps["create"]["arn"]);
        Assert.Equal(("InProgress", "Training", 2), ((string?)steps["describe"]["status"], (string?)steps["describe"]["secondary"], (int)steps["describe"]["instances"]!));
        Assert.Equal("s3://artifacts/out/boto-job-1/output/model.tar.gz", (string?)steps["describe"]["model"]);
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0, (double)steps["describe"]["created"]!, 3);
        Assert.Equal(["boto-job-1"], steps["list"]["names"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("0a1b2c3d", (string?)steps["tags"]["tags"]![0]!["Value"]);
        var stream = $"boto-job-1/algo-1-{time.GetUtcNow().ToUnixTimeSeconds()}";
        Assert.Equal([stream, $"boto-job-1/algo-2-{time.GetUtcNow().ToUnixTimeSeconds()}"], steps["logs"]["streams"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["epoch=1 step=10 train_loss=0.5"], steps["logs"]["messages"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("f/1", (string?)steps["logs"]["forward"]);
        AssertRefused(steps["logs_invalid"], "ValidationException", 400, "at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50");
        Assert.Equal(("Stopping", "Stopping"), ((string?)steps["stop"]["status"], (string?)steps["stop"]["secondary"]));
        AssertRefused(steps["duplicate"], "ResourceInUse", 400, "already exists");
        AssertRefused(steps["unknown"], "ValidationException", 400, "Requested resource not found");
        AssertRefused(steps["invalid_pattern"], "ValidationException", 400, "Value 'bad_name' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern");
        AssertRefused(steps["invalid_enum"], "ValidationException", 400, "at 'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set");
        AssertRefused(steps["missing_required"], "ValidationException", 400, "Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
        AssertRefused(steps["bad_signature"], "InvalidSignatureException", 403, "signature we calculated does not match");
        Assert.Equal(["boto-job-1"], emulator.Jobs.Names);
        Assert.Empty(emulator.OutputViolations);
    }

    private static void AssertRefused(JsonObject step, string code, int status, string message)
    {
        Assert.Equal("refused", (string?)step["outcome"]);
        Assert.Equal(code, (string?)step["code"]);
        Assert.Equal(status, (int)step["status"]!);
        Assert.Contains(message, (string?)step["message"]);
    }

    private static async Task<Dictionary<string, JsonObject>> RunAsync(string script, params string[] args)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Protocol", script));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // boto3 must not pick up the machine's AWS settings.
        foreach (var variable in new[] { "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_SESSION_TOKEN" })
        {
            start.Environment.Remove(variable);
        }

        using var python = Process.Start(start)!;
        var output = python.StandardOutput.ReadToEndAsync();
        var error = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(python.ExitCode == 0, $"{script} exited {python.ExitCode}:\n{await error}\n{await output}");
        return (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonNode.Parse(line)!.AsObject())
            .ToDictionary(o => (string)o["step"]!, o => o);
    }
}
