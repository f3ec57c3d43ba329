using System.Collections.Concurrent;
using System.Diagnostics;
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
/// What live metrics cost at scale: many SageMaker jobs training at once, each printing a metric line a minute to its
/// CloudWatch log in the emulator, reconciled by the real <see cref="TrainingJobReconciler"/> and
/// <see cref="SageMakerBackend"/> exactly when each pass asked to be requeued, on a simulated clock that jumps from one
/// due pass to the next (as <see cref="SageMakerPollingBenchmark"/>). Counts the status writes (the reconciler writes
/// only a status that differs) and every AWS call per job-hour. `bench/run.sh sagemaker-live` runs it with 10,000 jobs
/// (BENCH_SAGEMAKER_LIVE_JOBS) and prints the summary line.
/// </summary>
public sealed class SageMakerLiveMetricsBenchmark
{
    [Fact]
    public async Task Live_metrics_cost_at_most_120_status_writes_and_30_AWS_calls_per_job_hour()
    {
        var jobs = Env("BENCH_SAGEMAKER_LIVE_JOBS", 12);
        var training = TimeSpan.FromMinutes(Env("BENCH_SAGEMAKER_LIVE_TRAINING_MINUTES", 60));
        var result = await RunAsync(jobs, training);

        var line = string.Create(CultureInfo.InvariantCulture,
            $"sagemaker-live jobs={result.Jobs} peak_running={result.PeakRunning} status_writes_per_job_hour={result.WritesPerJobHour:0.0} " +
            $"status_writes_per_training_hour={result.WritesPerTrainingHour:0.0} aws_calls_per_job_hour={result.CallsPerJobHour:0.0} " +
            $"job_calls_per_job_hour={result.JobCallsPerJobHour:0.0} aws_calls_per_training_hour={result.CallsPerTrainingHour:0.0} " +
            $"metric_values_recorded={result.Values} duplicates={result.Duplicates}");
        if (Environment.GetEnvironmentVariable("BENCH_SAGEMAKER_LIVE_OUT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, line + Environment.NewLine + result.Details + Environment.NewLine);
        }

        Console.WriteLine(line);
        Console.WriteLine(result.Details);
        Assert.True(result.Succeeded == jobs, $"{result.Succeeded} of {jobs} jobs succeeded; {line}");
        Assert.Equal(jobs, result.PeakRunning);
        Assert.Equal(0, result.Duplicates);
        Assert.True(result.Values >= jobs * (training.TotalMinutes - 10), line); // every job's values reached status while it trained
        Assert.True(result.WritesPerJobHour <= 120, line);
        // While a job trains (the running job-hour of the budget): its own calls (describes, log reads) at any scale, and
        // with the region's shared ListTrainingJobs feed from 100 jobs on. Whole-life figures include the start-up
        // describes, which short benchmark jobs cannot amortise; the 2-hour polling benchmark holds those to the budget.
        Assert.True(result.JobCallsPerTrainingHour <= 30, line);
        Assert.True(jobs < 100 || result.CallsPerTrainingHour <= 30, line);
    }

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : fallback;

    private sealed record Result(int Jobs, int Succeeded, int PeakRunning, double WritesPerJobHour, double WritesPerTrainingHour,
        double CallsPerJobHour, double JobCallsPerJobHour, double CallsPerTrainingHour, double JobCallsPerTrainingHour, long Values, int Duplicates, string Details);

    private static async Task<Result> RunAsync(int count, TimeSpan training)
    {
        var wall = Stopwatch.StartNew();
        var time = new FakeTimeProvider(Build.T0);
        await using var emulator = await SageMakerApiEmulator.StartAsync(new SageMakerApiEmulatorOptions
        {
            TimeProvider = time,
            Region = SageMakerOperatorHarness.Region,
            RequestLogCapacity = 100 * count + 10_000,
        });
        emulator.Signatures.CheckClockSkew = false;
        emulator.LogsSignatures.CheckClockSkew = false;
        emulator.Scripts.Default = SageMakerOperatorHarness.Script with
        {
            Training = training,
            LogLines = JobScript.TrainingLog(training, TimeSpan.FromMinutes(1)),
        };
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
        var store = new WriteLog(new InMemoryTrainingJobStore(time), time);
        var backend = new SageMakerBackend(clients, options, time, random: new Random(11));
        var reconciler = new TrainingJobReconciler(store, [backend], new InMemoryEventSink(), time);

        // Every job is created within the first 5 minutes, so all of them train at once for most of the run.
        var due = new PriorityQueue<string, DateTimeOffset>();
        var arrivals = new Random(5);
        for (var i = 0; i < count; i++)
        {
            var job = SageMakerOperatorHarness.Job($"live-{i:D5}");
            job.Metadata.NamespaceProperty = "bench";
            store.Inner.Create(job);
            due.Enqueue(job.Metadata.Name, Build.T0 + TimeSpan.FromSeconds(arrivals.NextDouble() * 300));
        }

        var running = new HashSet<string>(StringComparer.Ordinal);
        var peakRunning = 0;
        var passes = 0L;
        while (due.TryDequeue(out var name, out var at))
        {
            if (at > time.GetUtcNow())
            {
                time.SetUtcNow(at);
            }

            var result = await reconciler.ReconcileAsync("bench", name, CancellationToken.None);
            passes++;
            var phase = (await store.Inner.GetAsync("bench", name, CancellationToken.None))?.Status?.Phase;
            if (phase == TrainingJobPhase.Running)
            {
                running.Add(name);
                peakRunning = Math.Max(peakRunning, running.Count);
            }
            else
            {
                running.Remove(name);
            }

            if (result is ReconcileResult.RequeueAfterResult requeue)
            {
                due.Enqueue(name, time.GetUtcNow() + requeue.Delay);
            }
        }

        var callsOf = emulator.RequestLog.Entries.Where(e => e.JobName is not null).GroupBy(e => e.JobName!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(e => e.Time).ToList(), StringComparer.Ordinal);
        double jobHours = 0, trainingHours = 0;
        long writes = 0, trainingWrites = 0, values = 0, trainingCalls = 0;
        var duplicates = 0;
        foreach (var job in store.Inner.List())
        {
            var smName = SageMakerJobName.For(job.Metadata.Name, job.Metadata.Uid, 1);
            var described = emulator.Jobs.Describe(smName);
            DateTimeOffset At(string member) => DateTimeOffset.FromUnixTimeMilliseconds((long)((decimal)described[member]! * 1000));
            var (created, started, ended) = (At("CreationTime"), At("TrainingStartTime"), At("TrainingEndTime"));
            jobHours += (ended - created).TotalHours;
            trainingHours += (ended - started).TotalHours;
            var times = store.WritesOf(job.Metadata.Name);
            writes += times.Count;
            trainingWrites += times.Count(t => t > started && t <= ended);
            trainingCalls += callsOf.GetValueOrDefault(smName)?.Count(t => t > started && t <= ended) ?? 0;
            var steps = Ferry.Operator.Insight.MetricHistoryCodec.Decode(job.Status!.MetricHistory).Of("train_loss").Select(p => p.Step).ToList();
            values += steps.Count;
            duplicates += steps.Count - steps.Distinct().Count();
        }

        var counts = emulator.RequestLog.Counts;
        var calls = counts.Values.Sum();
        var feedShare = counts.GetValueOrDefault("ListTrainingJobs") / jobHours;
        var details = string.Join(' ', counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}")) +
            string.Create(CultureInfo.InvariantCulture,
                $" status_writes={writes} status_writes_while_training={trainingWrites} passes={passes} job_hours={jobHours:0.0} training_hours={trainingHours:0.0} " +
                $"simulated_hours={(time.GetUtcNow() - Build.T0).TotalHours:0.00} wall_s={wall.Elapsed.TotalSeconds:0}");
        return new Result(count, store.Inner.List().Count(j => j.Status?.Phase == TrainingJobPhase.Succeeded), peakRunning,
            writes / jobHours, trainingWrites / trainingHours, calls / jobHours, (calls - counts.GetValueOrDefault("ListTrainingJobs")) / jobHours,
            trainingCalls / trainingHours + feedShare, trainingCalls / trainingHours, values, duplicates, details);
    }

    /// <summary>The in-memory store, noting when each job's status was written.</summary>
    private sealed class WriteLog(InMemoryTrainingJobStore inner, TimeProvider time) : ITrainingJobStore
    {
        private readonly ConcurrentDictionary<string, List<DateTimeOffset>> _writes = new(StringComparer.Ordinal);

        public InMemoryTrainingJobStore Inner => inner;

        public IReadOnlyList<DateTimeOffset> WritesOf(string name) => _writes.TryGetValue(name, out var list) ? list : [];

        public Task<TrainingJob?> GetAsync(string ns, string name, CancellationToken cancellationToken) => inner.GetAsync(ns, name, cancellationToken);

        public Task<TrainingJob> AddFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken) => inner.AddFinalizerAsync(job, finalizer, cancellationToken);

        public Task RemoveFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken) => inner.RemoveFinalizerAsync(job, finalizer, cancellationToken);

        public Task<TrainingJob> SetLabelsAsync(TrainingJob job, IReadOnlyDictionary<string, string?> labels, CancellationToken cancellationToken) =>
            ((ITrainingJobStore)inner).SetLabelsAsync(job, labels, cancellationToken);

        public Task<TrainingJob> WriteStatusAsync(TrainingJob job, TrainingJobStatus status, CancellationToken cancellationToken)
        {
            _writes.GetOrAdd(job.Metadata.Name, _ => []).Add(time.GetUtcNow());
            return inner.WriteStatusAsync(job, status, cancellationToken);
        }

        public Task DeleteAsync(TrainingJob job, CancellationToken cancellationToken) => inner.DeleteAsync(job, cancellationToken);
    }
}
