using System.Globalization;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Jobs;
using Ferry.SageMakerEmulator.Timing;

// Standalone: dotnet run --project tests/SageMakerEmulator [--port N] [--region R] [--training-seconds N] [--speed N] [--fail JOB_NAME_GLOB]...
const string Usage = "usage: ferry-sagemaker-emulator [--port N] [--region REGION] [--training-seconds N] [--speed N] [--fail JOB_NAME_GLOB]...";
var port = 0;
var region = "us-east-1";
double trainingSeconds = 60;
double speed = 1;
var failures = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--port" when i + 1 < args.Length && int.TryParse(args[i + 1], out var p):
            port = p;
            i++;
            break;
        case "--region" when i + 1 < args.Length:
            region = args[++i];
            break;
        case "--training-seconds" when i + 1 < args.Length && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0:
            trainingSeconds = s;
            i++;
            break;
        case "--speed" when i + 1 < args.Length && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 1:
            speed = x;
            i++;
            break;
        case "--fail" when i + 1 < args.Length:
            failures.Add(args[++i]);
            break;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            Console.WriteLine("  --training-seconds N     jobs train N seconds (after 5 s starting and 5 s downloading, before 5 s uploading)");
            Console.WriteLine("  --speed N                the jobs' clock runs N times faster than the wall clock (1 or more; signatures are then checked without clock skew)");
            Console.WriteLine("  --fail JOB_NAME_GLOB     jobs whose name matches the glob (* and ?) fail at the end of training (repeatable)");
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'; {Usage}");
            return 2;
    }
}

TimeProvider clock = speed > 1 ? new AcceleratedTimeProvider(speed) : TimeProvider.System;
await using var emulator = await SageMakerApiEmulator.StartAsync(new SageMakerApiEmulatorOptions { Port = port, Region = region, TimeProvider = clock });
// Clients sign with the wall clock; on an accelerated clock every signature would look expired.
emulator.Signatures.CheckClockSkew = speed == 1;
emulator.LogsSignatures.CheckClockSkew = speed == 1;
var script = new JobScript
{
    Starting = TimeSpan.FromSeconds(5),
    Downloading = TimeSpan.FromSeconds(5),
    Training = TimeSpan.FromSeconds(trainingSeconds),
    Uploading = TimeSpan.FromSeconds(5),
    Stopping = TimeSpan.FromSeconds(5),
    FinalMetrics = new Dictionary<string, double> { ["train_loss"] = 0.25, ["val_accuracy"] = 0.9 },
    LogLines = JobScript.TrainingLog(TimeSpan.FromSeconds(trainingSeconds), TimeSpan.FromSeconds(Math.Max(trainingSeconds / 20, 1))),
};
emulator.Scripts.Default = script;
foreach (var glob in failures)
{
    emulator.Scripts.When(glob, script with { Outcome = JobOutcome.Failed });
}

var credentials = SageMakerApiEmulator.TestCredentials;
Console.WriteLine($"SageMaker emulator listening on {emulator.BaseAddress} (region {region}, model {emulator.Model.Path})");
Console.WriteLine($"  export AWS_ENDPOINT_URL_SAGEMAKER={emulator.BaseAddress.ToString().TrimEnd('/')} AWS_REGION={region}");
Console.WriteLine($"  export AWS_ACCESS_KEY_ID={credentials.AccessKeyId} AWS_SECRET_ACCESS_KEY={credentials.SecretAccessKey}");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, signal =>
{
    signal.Cancel = true;
    stop.Cancel();
});
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
    // Ctrl-C or SIGTERM.
}

return 0;
