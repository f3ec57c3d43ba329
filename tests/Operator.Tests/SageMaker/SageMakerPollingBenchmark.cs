using System.Globalization;
using Amazon.Runtime;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Tests.Fixtures;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Jobs;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Operator.Tests.SageMaker;

/// <summary>
/// What polling costs and how late the end of a job shows: many SageMaker jobs of hours of training, each reconciled
/// exactly when the previous pass asked to be requeued (the controller's work queue), on a clock that jumps from one
/// due pass to the next — hours of SageMaker time in seconds, deterministic. Every SageMaker call goes over HTTP to the
/// emulator. `make bench-sagemaker` runs it with 1,000 jobs (BENCH_SAGEMAKER_JOBS) and prints the summary line.
/// </summary>
public sealed class SageMakerPollingBenchmark
{
    [Fact]
    public async Task Polling_stays_within_30_calls_per_job_hour_shows_the_end_within_a_minute_and_never_duplicates()
    {
        var jobs = int.TryParse(Environment.GetEnvironmentVariable("BENCH_SAGEMAKER_JOBS"), CultureInfo.InvariantCulture, out var n) ? n : 12;
        var result = await RunAsync(jobs, TimeSpan.FromHours(2));

        var line = string.Create(CultureInfo.InvariantCulture,
            $"sagemaker jobs={result.Jobs} calls_per_job_hour={result.CallsPerJobHour:0.0} job_calls_per_job_hour={result.JobCallsPerJobHour:0.0} describe_calls={result.Describes} finish_to_status_p50_s={result.P50:0.0} finish_to_status_p99_s={result.P99:0.0} duplicates={result.Duplicates}");
        if (Environment.GetEnvironmentVariable("BENCH_SAGEMAKER_OUT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, line + Environment.NewLine + result.Details + Environment.NewLine);
        }

        Assert.True(result.Succeeded == jobs, $"{result.Succeeded} of {jobs} jobs succeeded; {line}");
        Assert.Equal(0, result.Duplicates);
        // The calls made for each job (describes, tags, its log reads) stay within budget at any scale; the region's shared
        // ListTrainingJobs feed (240 calls an hour) is spread over the jobs, so the total is held to it from 100 jobs on.
        Assert.True(result.JobCallsPerJobHour <= 30, line);
        Assert.True(jobs < 100 || result.CallsPerJobHour <= 30, line);
        Assert.True(result.P99 <= 60, line);
    }

    private sealed record Result(int Jobs, int Succeeded, double CallsPerJobHour, double JobCallsPerJobHour, long Describes, double P50, double P99, int Duplicates, string Details);

    private static async Task<Result> RunAsync(int count, TimeSpan training)
    {
        var time = new FakeTimeProvider(Build.T0);
        await using var emulator = await SageMakerApiEmulator.StartAsync(new SageMakerApiEmulatorOptions { TimeProvider = time, Region = SageMakerOperatorHarness.Region });
        emulator.Signatures.CheckClockSkew = false;
        emulator.LogsSignatures.CheckClockSkew = false;
        // Each job prints a metric line a minute: the backend reads its log for live metrics as it would on AWS.
        emulator.Scripts.Default = SageMakerOperatorHarness.Script with { Training = training, LogLines = JobScript.TrainingLog(training, TimeSpan.FromMinutes(1)) };
        using var clients = new SageMakerClientFactory(new SageMakerClientOptions
        {
            Region = SageMakerOperatorHarness.Region,
            Endpoint = emulator.BaseAddress,
            Credentials = new BasicAWSCredentials(SageMakerApiEmulator.TestCredentials.AccessKeyId, SageMakerApiEmulator.TestCredentials.SecretAccessKey),
        });
        var options = new SageMakerBackendOptions
        {
            Region = SageMakerOperatorHarness.Region,
            AllowedRoles = new Dictionary<string, IReadOnlyList<string>> { [RoleAllowlist.AnyNamespace] = [SageMakerOperatorHarness.Role] },
        };
        var store = new InMemoryTrainingJobStore(time);
        var backend = new SageMakerBackend(clients, options, time, random: new Random(11));
        var reconciler = new TrainingJobReconciler(store, [backend], new InMemoryEventSink(), time);

        // Jobs arrive over the first 10 minutes; each pass runs when the previous one asked to be requeued.
        var due = new PriorityQueue<string, DateTimeOffset>();
        var arrivals = new Random(5);
        for (var i = 0; i < count; i++)
        {
            var job = SageMakerOperatorHarness.Job($"bench-{i:D5}");
            job.Metadata.NamespaceProperty = "bench";
            store.Create(job);
            due.Enqueue(job.Metadata.Name, Build.T0 + TimeSpan.FromSeconds(arrivals.NextDouble() * 600));
        }

        var statusAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        while (due.TryDequeue(out var name, out var at))
        {
            if (at > time.GetUtcNow())
            {
                time.SetUtcNow(at);
            }

            var result = await reconciler.ReconcileAsync("bench", name, CancellationToken.None);
            var phase = (await store.GetAsync("bench", name, CancellationToken.None))?.Status?.Phase;
            if (TrainingJobStatusCalculator.IsFinished(phase))
            {
                statusAt.TryAdd(name, time.GetUtcNow());
            }

            if (result is ReconcileResult.RequeueAfterResult requeue)
            {
                due.Enqueue(name, time.GetUtcNow() + requeue.Delay);
            }
        }

        var latencies = new List<double>();
        double jobHours = 0;
        foreach (var job in store.List())
        {
            var smName = SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid, 1);
            var described = emulator.Jobs.Describe(smName);
            var created = DateTimeOffset.FromUnixTimeMilliseconds((long)((decimal)described["CreationTime"]! * 1000));
            var ended = DateTimeOffset.FromUnixTimeMilliseconds((long)((decimal)described["TrainingEndTime"]! * 1000));
            jobHours += (ended - created).TotalHours;
            if (statusAt.TryGetValue(job.Metadata.Name, out var seen))
            {
                latencies.Add((seen - ended).TotalSeconds);
            }
        }

        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
        var counts = emulator.RequestLog.Counts;
        var calls = counts.Values.Sum();
        var duplicates = emulator.Jobs.Count - count;
        var details = string.Join(' ', counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}")) +
            string.Create(CultureInfo.InvariantCulture, $" job_hours={jobHours:0.0} simulated_hours={(time.GetUtcNow() - Build.T0).TotalHours:0.00}");
        return new Result(count, store.List().Count(j => j.Status?.Phase == TrainingJobPhase.Succeeded), calls / jobHours,
            (calls - counts.GetValueOrDefault("ListTrainingJobs")) / jobHours,
            counts.GetValueOrDefault("DescribeTrainingJob"), Percentile(0.5), Percentile(0.99), duplicates, details);
    }
}
