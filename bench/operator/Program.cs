using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ferry.Bench.Operator;
using Ferry.KubeEmulator;

// The operator at scale: the real `ferry operator` process against the Kubernetes API emulator (hosted here, with its
// simulated kubelet completing pods after a fixed run time). See bench/operator/run.py for the knobs and the output.
var options = BenchOptions.Parse(args);
const string DriverAgent = "ferry-bench-driver/1";
const string SustainedNs = "bench-sustained";
const string BurstNs = "bench-burst";
const string CapacityNs = "bench-capacity";

// Numbers the capacity probe's requests across calls, so object names never repeat.
var requestCounter = -1;

static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

static double Percentile(List<double> sorted, double p) =>
    sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

static void Progress(string message) => Console.Error.WriteLine($"# {DateTime.UtcNow:HH:mm:ss} {message}");

static Exception Fail(string message) => new BenchFailedException(message);

try
{
    return await RunAsync();
}
catch (BenchFailedException e)
{
    Console.Error.WriteLine($"BENCH FAILED: {e.Message}");
    return 1;
}

async Task<int> RunAsync()
{
    Progress($"starting the Kubernetes API emulator (jobs={options.Jobs}, replicas={options.Replicas}, pod run {options.PodRunSeconds} s)");
    await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions
    {
        CrdPaths = [options.CrdPath],
        // Every job produces ~15 events; keep enough history that a watch that falls behind can still resume,
        // as an apiserver's watch cache would over the few minutes a run lasts.
        EventHistory = Math.Max(50_000, options.Jobs * 2 * 40),
        InitialNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease", SustainedNs, BurstNs, CapacityNs],
    });
    api.Kubelet.Runtime = new FixedRunTime(TimeSpan.FromSeconds(options.PodRunSeconds));
    api.Kubelet.Start();
    var tracker = new JobTracker(api.Store, options.Replicas);
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = api.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
    http.DefaultRequestHeaders.UserAgent.ParseAdd(DriverAgent);
    var report = new JsonObject
    {
        ["benchmark"] = "operator",
        ["jobs"] = options.Jobs,
        ["replicas"] = options.Replicas,
        ["pod_run_seconds"] = options.PodRunSeconds,
        ["sustained_rate_jobs_per_s"] = options.Rate,
        ["idle_seconds"] = options.IdleSeconds,
        ["processor_count"] = Environment.ProcessorCount,
    };

    Progress("measuring the emulator's own request capacity");
    report["emulator_capacity"] = await MeasureCapacityAsync(http, api);

    var tally = new RequestTally(api.RequestLog, DriverAgent);
    using var stopDrain = new CancellationTokenSource();
    var drain = tally.RunAsync(TimeSpan.FromMilliseconds(200), stopDrain.Token);

    Progress("starting the operator");
    using var op = StartOperator(api.KubeconfigPath);
    try
    {
        await WaitAsync("the operator to open its watches", () => api.Store.OpenWatches > 0, TimeSpan.FromSeconds(120), op);

        // A first job proves the operator runs InCluster jobs end to end (and warms it up) before anything is timed.
        Progress("warm-up job (proves the operator creates pods and completes jobs)");
        var warm = tracker.Expect("default", "warmup");
        await CreateJobAsync(http, "default", "warmup", warm);
        await WaitAsync("pods for the warm-up TrainingJob default/warmup (is the InCluster backend running?)", () => warm.AllPodsAt != 0, TimeSpan.FromSeconds(120), op);
        await WaitAsync($"the warm-up TrainingJob to reach Succeeded (phase now: {warm.Phase ?? "none"})", () => warm.TerminalAt != 0, TimeSpan.FromSeconds(120 + options.PodRunSeconds), op);
        if (warm.Phase != "Succeeded")
        {
            throw Fail($"the warm-up TrainingJob ended {warm.Phase}, expected Succeeded (its pods exit 0)");
        }

        // Sustained: jobs arrive at a steady rate.
        var before = tally.Snapshot();
        var cpuBefore = (Operator: OperatorCpuSeconds(op.Process.Id), Bench: Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds);
        Progress($"sustained: creating {options.Jobs} jobs at {options.Rate} jobs/s");
        var sustained = await CreateJobsAsync(http, tracker, SustainedNs, options.Jobs, options.Rate, maxInFlight: 256);
        await WaitForPodsAsync(sustained, "sustained", op);
        var latencies = sustained.Select(j => Ms(j.AllPodsAt - j.CreateSentAt)).Order().ToList();
        await WaitForTerminalAsync(sustained, "sustained", op);
        var afterSustained = tally.Snapshot();
        var sustainedRequests = RequestTally.Delta(before, afterSustained);
        var sustainedSendSpan = Ms(sustained.Max(j => j.CreateSentAt) - sustained.Min(j => j.CreateSentAt)) / 1000;
        report["sustained"] = new JsonObject
        {
            ["create_p50_ms"] = Percentile(latencies, 0.50),
            ["create_p90_ms"] = Percentile(latencies, 0.90),
            ["create_p99_ms"] = Percentile(latencies, 0.99),
            ["create_max_ms"] = latencies[^1],
            ["achieved_create_rate_jobs_per_s"] = options.Jobs > 1 ? (options.Jobs - 1) / sustainedSendSpan : double.NaN,
            ["requests"] = ToJson(sustainedRequests),
            ["requests_per_job"] = sustainedRequests.Values.Sum() / (double)options.Jobs,
            ["writes_per_job"] = sustainedRequests.Where(kv => RequestTally.IsWrite(kv.Key)).Sum(kv => kv.Value) / (double)options.Jobs,
            ["requests_per_job_by_verb"] = PerJobByVerb(sustainedRequests, options.Jobs),
        };

        // Burst: every job at once.
        Progress($"burst: creating {options.Jobs} jobs at once");
        var beforeBurst = tally.Snapshot();
        var burst = await CreateJobsAsync(http, tracker, BurstNs, options.Jobs, rate: 0, maxInFlight: 64);
        await WaitForPodsAsync(burst, "burst", op);
        var burstStart = burst.Min(j => j.CreateSentAt);
        var burstSeconds = Ms(burst.Max(j => j.AllPodsAt) - burstStart) / 1000;
        var burstCreateSeconds = Ms(burst.Max(j => j.CreatedAt) - burstStart) / 1000;
        await WaitForTerminalAsync(burst, "burst", op);
        var burstRequests = RequestTally.Delta(beforeBurst, tally.Snapshot());
        report["burst"] = new JsonObject
        {
            ["seconds_to_last_pods"] = burstSeconds,
            ["jobs_per_s"] = options.Jobs / burstSeconds,
            ["driver_create_seconds"] = burstCreateSeconds,
            ["requests"] = ToJson(burstRequests),
            ["requests_per_job"] = burstRequests.Values.Sum() / (double)options.Jobs,
            ["requests_per_job_by_verb"] = PerJobByVerb(burstRequests, options.Jobs),
        };

        // CPU spent on the 2N jobs of both load shapes: the operator's, and this process's (the emulator with its
        // kubelet, plus the driver), which tells which side limits the rates above on a machine they share.
        var operatorCpu = OperatorCpuSeconds(op.Process.Id) - cpuBefore.Operator;
        var benchCpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - cpuBefore.Bench;
        report["cpu"] = new JsonObject
        {
            ["operator_seconds"] = Math.Round(operatorCpu, 2),
            ["emulator_and_driver_seconds"] = Math.Round(benchCpu, 2),
            ["operator_ms_per_job"] = Math.Round(operatorCpu * 1000 / (2.0 * options.Jobs), 3),
            ["emulator_and_driver_ms_per_job"] = Math.Round(benchCpu * 1000 / (2.0 * options.Jobs), 3),
        };

        // Idle: every job has settled; a level-based operator now writes nothing.
        Progress($"idle: watching the operator's requests for {options.IdleSeconds} s with every job settled");
        var beforeIdle = tally.Snapshot();
        await Task.Delay(TimeSpan.FromSeconds(options.IdleSeconds));
        EnsureRunning(op);
        var idleRequests = RequestTally.Delta(beforeIdle, tally.Snapshot());
        // Lease renewals are leader election's heartbeat, not reconciliation; they are reported apart.
        var idleWrites = idleRequests.Where(kv => RequestTally.IsWrite(kv.Key) && !kv.Key.Contains(" leases", StringComparison.Ordinal)).Sum(kv => kv.Value);
        var idleLeaseWrites = idleRequests.Where(kv => RequestTally.IsWrite(kv.Key) && kv.Key.Contains(" leases", StringComparison.Ordinal)).Sum(kv => kv.Value);
        report["idle"] = new JsonObject { ["writes_excluding_lease_renewals"] = idleWrites, ["lease_writes"] = idleLeaseWrites, ["requests"] = ToJson(idleRequests) };

        var (hwmKb, rssKb) = ReadMemory(op.Process.Id);
        report["operator_vmhwm_kb"] = hwmKb;
        report["operator_vmrss_kb"] = rssKb;
        report["operator_gc_heap_mb_after_last_collection"] = await ManagedHeapMbAsync(options.OperatorArgs);
        report["stray_pods"] = tracker.StrayPods;
        report["unaccounted_request_numbers"] = tally.Unaccounted;
        report["minimum_requests_per_job"] = new JsonObject
        {
            ["total"] = options.Replicas + 1 + 2,
            ["create pods"] = options.Replicas,
            ["create services"] = 1,
            ["update trainingjobs/status"] = 2,
            ["reasoning"] = "one headless Service and one Pod per replica, created once; status written when the job starts running " +
                "and when it completes; every read served from the watch cache (list+watch cost is per operator, not per job); no " +
                "finalizer is needed in-cluster because owner references let the garbage collector delete the children",
        };

        var line = string.Create(CultureInfo.InvariantCulture,
            $"operator n={options.Jobs} create_p50_ms={Percentile(latencies, 0.5):F1} create_p99_ms={Percentile(latencies, 0.99):F1} " +
            $"burst_jobs_per_s={options.Jobs / burstSeconds:F1} requests_per_job={sustainedRequests.Values.Sum() / (double)options.Jobs:F2} " +
            $"idle_writes={idleWrites} rss_mb={hwmKb / 1024.0:F1}");
        report["summary"] = line;
        await File.WriteAllTextAsync(options.OutPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine(line);
        return 0;
    }
    finally
    {
        await stopDrain.CancelAsync();
        await drain;
        op.Stop();
    }
}

async Task<JsonObject> MeasureCapacityAsync(HttpClient http, KubeApiEmulator api)
{
    var duration = TimeSpan.FromSeconds(options.CapacitySeconds);
    var getRps = await HammerAsync("GET namespace", duration, 32, _ => http.GetAsync("api/v1/namespaces/default"));
    var cmRps = await HammerAsync("create ConfigMap", duration, 32, i => http.PostAsync($"api/v1/namespaces/{CapacityNs}/configmaps",
        Json(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ConfigMap", ["metadata"] = new JsonObject { ["name"] = $"cm-{i}" }, ["data"] = new JsonObject { ["k"] = "v" } })));
    var created = new List<string>();
    var tjRps = await HammerAsync("create TrainingJob", duration, 32, i =>
    {
        lock (created)
        {
            created.Add($"cap-{i}");
        }

        return http.PostAsync($"apis/ferry.dev/v1alpha1/namespaces/{CapacityNs}/trainingjobs", Json(JobManifest($"cap-{i}")));
    });

    // The operator is not running yet: remove these jobs so it never sees them.
    var index = 0;
    var deleteRps = await HammerAsync("delete TrainingJob", TimeSpan.FromMinutes(10), 32, _ =>
    {
        var i = Interlocked.Increment(ref index) - 1;
        return i < created.Count
            ? http.DeleteAsync($"apis/ferry.dev/v1alpha1/namespaces/{CapacityNs}/trainingjobs/{created[i]}")
            : null;
    }, warmUp: false);
    var left = api.ListObjects("ferry.dev/v1alpha1", "TrainingJob", CapacityNs).Count;
    if (left != 0)
    {
        throw Fail($"{left} TrainingJobs of the capacity probe are still present after deleting them");
    }

    return new JsonObject
    {
        ["concurrency"] = 32,
        ["seconds_each"] = options.CapacitySeconds,
        ["get_namespace_rps"] = getRps,
        ["create_configmap_rps"] = cmRps,
        ["create_trainingjob_rps"] = tjRps,
        ["delete_trainingjob_rps"] = deleteRps,
    };
}

// Runs `workers` loops issuing requests until `duration` elapses (or `next` returns null); returns completed requests/s.
async Task<double> HammerAsync(string label, TimeSpan duration, int workers, Func<int, Task<HttpResponseMessage>?> next, bool warmUp = true)
{
    if (warmUp)
    {
        // The first requests of a kind pay for JIT and, for custom resources, for starting the CEL engine: not timed.
        await HammerAsync(label, TimeSpan.FromSeconds(1), workers, next, warmUp: false);
    }

    var completed = 0L;
    var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
    var start = Stopwatch.GetTimestamp();
    var tasks = Enumerable.Range(0, workers).Select(async _ =>
    {
        while (Stopwatch.GetTimestamp() < stopAt)
        {
            var request = next(Interlocked.Increment(ref requestCounter));
            if (request is null)
            {
                return;
            }

            using var response = await request;
            if (!response.IsSuccessStatusCode)
            {
                throw Fail($"the emulator answered {(int)response.StatusCode} to {label} during the capacity probe: {await response.Content.ReadAsStringAsync()}");
            }

            Interlocked.Increment(ref completed);
        }
    }).ToList();
    await Task.WhenAll(tasks);
    return completed / Stopwatch.GetElapsedTime(start).TotalSeconds;
}

async Task<List<JobTimes>> CreateJobsAsync(HttpClient http, JobTracker tracker, string ns, int count, double rate, int maxInFlight)
{
    var jobs = new List<JobTimes>(count);
    using var inFlight = new SemaphoreSlim(maxInFlight);
    var tasks = new List<Task>(count);
    var t0 = Stopwatch.GetTimestamp();
    for (var i = 0; i < count; i++)
    {
        if (rate > 0)
        {
            var due = t0 + (long)(i * Stopwatch.Frequency / rate);
            var wait = Ms(due - Stopwatch.GetTimestamp());
            if (wait > 2)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait - 1));
            }

            while (Stopwatch.GetTimestamp() < due)
            {
                Thread.SpinWait(50);
            }
        }

        await inFlight.WaitAsync();
        var name = $"job-{i:D5}";
        var times = tracker.Expect(ns, name);
        jobs.Add(times);
        tasks.Add(CreateAndReleaseAsync(name, times));
    }

    await Task.WhenAll(tasks);
    return jobs;

    async Task CreateAndReleaseAsync(string name, JobTimes times)
    {
        try
        {
            await CreateJobAsync(http, ns, name, times);
        }
        finally
        {
            inFlight.Release();
        }
    }
}

async Task CreateJobAsync(HttpClient http, string ns, string name, JobTimes times)
{
    times.CreateSentAt = Stopwatch.GetTimestamp();
    using var response = await http.PostAsync($"apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs", Json(JobManifest(name)));
    times.CreatedAt = Stopwatch.GetTimestamp();
    if (response.StatusCode != HttpStatusCode.Created)
    {
        throw Fail($"creating TrainingJob {ns}/{name} was answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}

JsonObject JobManifest(string name) => new()
{
    ["apiVersion"] = "ferry.dev/v1alpha1",
    ["kind"] = "TrainingJob",
    ["metadata"] = new JsonObject { ["name"] = name },
    ["spec"] = new JsonObject
    {
        ["backend"] = "InCluster",
        ["image"] = "registry.example/ferry-trainer:bench",
        ["hyperParameters"] = new JsonObject { ["model"] = "mlp", ["epochs"] = "1" },
        ["resources"] = new JsonObject { ["replicas"] = options.Replicas, ["gpusPerReplica"] = 0 },
    },
};

static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

async Task WaitForPodsAsync(List<JobTimes> jobs, string phase, OperatorProcess op)
{
    var timeout = TimeSpan.FromSeconds(options.TimeoutSeconds ?? Math.Max(120, jobs.Count / 20.0));
    await WaitAsync($"{phase}: every job's {options.Replicas} pods", () => jobs.All(j => j.AllPodsAt != 0), timeout, op,
        () => $"{jobs.Count(j => j.AllPodsAt == 0)} of {jobs.Count} jobs still lack them");
}

async Task WaitForTerminalAsync(List<JobTimes> jobs, string phase, OperatorProcess op)
{
    var timeout = TimeSpan.FromSeconds((options.TimeoutSeconds ?? Math.Max(120, jobs.Count / 20.0)) + options.PodRunSeconds);
    await WaitAsync($"{phase}: every job to finish", () => jobs.All(j => j.TerminalAt != 0), timeout, op,
        () => $"{jobs.Count(j => j.TerminalAt == 0)} of {jobs.Count} jobs not finished; phases: " +
              string.Join(", ", jobs.GroupBy(j => j.Phase ?? "none").Select(g => $"{g.Key}={g.Count()}")));
    var failed = jobs.Count(j => j.Phase != "Succeeded");
    if (failed > 0)
    {
        throw Fail($"{phase}: {failed} jobs ended in a phase other than Succeeded although their pods exit 0: " +
            string.Join(", ", jobs.GroupBy(j => j.Phase ?? "none").Select(g => $"{g.Key}={g.Count()}")));
    }
}

async Task WaitAsync(string what, Func<bool> done, TimeSpan timeout, OperatorProcess op, Func<string>? detail = null)
{
    var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
    var nextProgress = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
    while (!done())
    {
        EnsureRunning(op);
        if (detail is not null && Stopwatch.GetTimestamp() > nextProgress)
        {
            Progress($"waiting for {what}: {detail()}");
            nextProgress += 10 * Stopwatch.Frequency;
        }

        if (Stopwatch.GetTimestamp() > deadline)
        {
            throw Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}{(detail is null ? "" : ": " + detail())}. Operator log tail:\n{op.Tail()}");
        }

        await Task.Delay(50);
    }
}

void EnsureRunning(OperatorProcess op)
{
    if (op.Process.HasExited)
    {
        throw Fail($"the operator exited with code {op.Process.ExitCode}. Log tail:\n{op.Tail()}");
    }
}

OperatorProcess StartOperator(string kubeconfig)
{
    var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    psi.ArgumentList.Add(options.OperatorDll);
    psi.ArgumentList.Add("operator");
    foreach (var a in options.OperatorArgs)
    {
        psi.ArgumentList.Add(a);
    }

    psi.Environment["KUBECONFIG"] = kubeconfig;
    return new OperatorProcess(Process.Start(psi) ?? throw Fail("could not start the operator process"), options.OperatorLog);
}

// The operator's managed heap after its last GC (live objects plus fragmentation), from its own /metrics: tells the
// cache's footprint apart from the runtime's fixed cost and from garbage awaiting collection in RSS.
static async Task<double?> ManagedHeapMbAsync(IReadOnlyList<string> operatorArgs)
{
    var at = operatorArgs.ToList().IndexOf("--port");
    if (at < 0 || at + 1 >= operatorArgs.Count)
    {
        return null;
    }

    using var metrics = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    var text = await metrics.GetStringAsync($"http://127.0.0.1:{operatorArgs[at + 1]}/metrics");
    var bytes = text.Split('\n')
        .Where(l => l.StartsWith("dotnet_gc_last_collection_heap_size_bytes", StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    return Math.Round(bytes / (1024 * 1024), 1);
}

// utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
static double OperatorCpuSeconds(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

static (long HwmKb, long RssKb) ReadMemory(int pid)
{
    long hwm = 0, rss = 0;
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
    {
        if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
        {
            hwm = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
        {
            rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
    }

    return (hwm, rss);
}

static JsonObject ToJson(Dictionary<string, long> counts) => new(counts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));

static JsonObject PerJobByVerb(Dictionary<string, long> counts, int jobs) =>
    new(counts.GroupBy(kv => kv.Key.Split(' ')[0]).OrderBy(g => g.Key, StringComparer.Ordinal)
        .Select(g => KeyValuePair.Create(g.Key, (JsonNode?)(g.Sum(kv => kv.Value) / (double)jobs))));
