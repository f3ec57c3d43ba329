using System.Net;
using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Insight;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>
/// Live metrics end to end in the emulator: the kubelet runs the real agent (each pod on its own loopback IP) around a
/// shell "trainer" that prints metric lines until it is stopped; the operator's InClusterBackend polls rank 0 on the
/// fake clock. The trainer's SIGTERM handler leaves a marker, so a graceful stop is visible.
/// </summary>
[Collection(LiveMetricsCollection.Name)]
public sealed class LiveMetricsTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("ferry-live-metrics-").FullName;
    private static readonly InClusterOptions Options = new() { StopGracePeriod = TimeSpan.FromSeconds(5) };

    public void Dispose() => Directory.Delete(_work, true);

    /// <summary>A trainer printing `train_loss=&lt;loss expression of i&gt;` and progress every 0.1 s until SIGTERM.</summary>
    private string Trainer(string loss)
    {
        var path = Path.Combine(_work, "train.sh");
        File.WriteAllText(path, $$"""
            #!/bin/sh
            trap 'touch "{{_work}}/stopped-$RANK"; exit 143' TERM
            i=0
            while true; do
              i=$((i+1))
              echo "epoch=1 step=$((i*10)) train_loss=$(awk "BEGIN{i=$i; print {{loss}}}")"
              echo "progress epoch=1/2 step=$((i*10))/100000"
              sleep 0.1
            done
            """);
        return path;
    }

    private async Task<LiveOperator> StartAsync() =>
        LiveOperator.Start(await OperatorHarness.StartAsync(new ProcessPodRuntime(_work, new Dictionary<string, string> { ["train"] = "/bin/sh" }, new Dictionary<string, string>()), Options), Options);

    private static TrainingJobBuilder LiveJob(string name, string script, params TrainingRule[] rules) =>
        Job(name).WithReplicas(2).With(j =>
        {
            j.Spec.Command = ["train", script];
            j.Spec.Rules = rules.Length == 0 ? null : [.. rules];
        });

    private static long HistoryLength(TrainingJob job, string metric) =>
        job.Status?.MetricHistory?.FirstOrDefault(s => s.Name == metric) is { } series ? MetricHistoryCodec.Points(series).Count() : 0;

    private static int StatusWrites(OperatorHarness harness, string name, long mark) =>
        harness.Api.RequestLog.Since(mark).Count(e => e.IsWrite && e.Resource == "trainingjobs" && e.Name == name && e.Subresource == "status");

    [Fact]
    public async Task Metrics_reach_status_while_running_with_at_most_one_status_write_per_poll_interval()
    {
        var op = await StartAsync();
        await using var harness = op.Harness;
        await harness.ApplyAsync(LiveJob("live", Trainer("10/i")));
        var step = TimeSpan.FromSeconds(5);

        var first = await op.UntilAsync("live", j => j.Status?.Phase == TrainingJobPhase.Running && HistoryLength(j, "train_loss") > 0, step);
        var mark = harness.Api.RequestLog.Mark();
        var startedAt = harness.Time.GetUtcNow();
        // The next 24 passes span two minutes of the fake clock (5 s each): the trainer keeps printing throughout.
        var passes = 0;
        var last = await op.UntilAsync("live", j => ++passes >= 24, step);
        var elapsed = harness.Time.GetUtcNow() - startedAt;
        var writes = StatusWrites(harness, "live", mark);
        output.WriteLine($"{writes} status writes in {elapsed.TotalSeconds} s of fake time over {passes} passes; history {HistoryLength(first, "train_loss")} -> {HistoryLength(last, "train_loss")} values");

        Assert.Equal(TrainingJobPhase.Running, last.Status!.Phase);
        Assert.True(HistoryLength(last, "train_loss") > HistoryLength(first, "train_loss"), "new values must keep arriving while the job runs");
        var loss = Assert.Single(last.Status.Metrics!, m => m.Name == "train_loss");
        Assert.NotNull(loss.Step);
        Assert.Equal(1, loss.Epoch);
        Assert.NotNull(last.Status.Progress?.Percent);
        Assert.Equal(2, last.Status.Progress!.Epochs);
        // One poll per 30 s of the operator's clock, and only a poll can change the status of a settled running job.
        Assert.InRange(writes, 2, (int)Math.Ceiling(elapsed.TotalSeconds / Options.LiveMetricsInterval.TotalSeconds) + 1);
        var sequences = last.Status.MetricSource!.Sequence;
        Assert.True(sequences >= HistoryLength(last, "train_loss"));
    }

    [Fact]
    public async Task LossNotDecreasing_with_Stop_stops_the_job_gracefully_and_says_why()
    {
        var op = await StartAsync();
        await using var harness = op.Harness;
        var rule = new TrainingRule { Name = "plateau", Type = TrainingRuleType.LossNotDecreasing, Patience = 5, Action = RuleAction.Stop };
        // The loss falls for 3 values, then sits at 0.5 for ever.
        await harness.ApplyAsync(LiveJob("plateau", Trainer("(i < 4 ? 2/i : 0.5)"), rule));

        var stopped = await op.UntilAsync("plateau", j => j.Status?.Phase == TrainingJobPhase.Stopped, TimeSpan.FromSeconds(10));
        var gone = await op.UntilAsync("plateau", _ => harness.PodsOfAsync("plateau").Result.Count(p => p.Status?.Phase == "Running") == 0, TimeSpan.FromSeconds(1));

        var triggered = ConditionList.Find(stopped.Status!.Conditions, TrainingJobConditions.RuleTriggered)!;
        Assert.Equal(("True", "plateau"), (triggered.Status, triggered.Reason));
        Assert.Contains("has not improved on its best 0.5", triggered.Message, StringComparison.Ordinal);
        Assert.Contains("(step ", triggered.Message, StringComparison.Ordinal);
        Assert.Equal("plateau", ConditionList.Find(stopped.Status.Conditions, TrainingJobConditions.Stopped)!.Reason);
        Assert.Contains("RuleTriggered", await harness.EventReasonsAsync("plateau"));
        Assert.Equal(TrainingJobPhase.Stopped, gone.Status!.Phase);
        Assert.Equal(1, gone.Status.Attempt);
        // Rank 0 got SIGTERM and its handler ran: the trainer had its grace period to write a final checkpoint.
        await WaitForFileAsync(Path.Combine(_work, "stopped-0"));
    }

    [Theory]
    [InlineData("nan-loss", "(i < 5 ? 1/i : \\\"nan\\\")", TrainingRuleType.NaN, "NaN", "became NaN")]
    [InlineData("target", "1/i", TrainingRuleType.MetricThreshold, "loss-target", "below 0.2")]
    public async Task A_NaN_or_threshold_rule_stops_the_job(string name, string loss, TrainingRuleType type, string ruleName, string evidence)
    {
        var op = await StartAsync();
        await using var harness = op.Harness;
        var rule = new TrainingRule { Name = type == TrainingRuleType.NaN ? null : ruleName, Type = type, Value = 0.2, Comparison = RuleComparison.LessThan, Action = RuleAction.Stop };
        await harness.ApplyAsync(LiveJob(name, Trainer(loss), rule));

        var stopped = await op.UntilAsync(name, j => j.Status?.Phase == TrainingJobPhase.Stopped, TimeSpan.FromSeconds(10));

        var triggered = ConditionList.Find(stopped.Status!.Conditions, TrainingJobConditions.RuleTriggered)!;
        Assert.Equal(RulePolicyReason(ruleName), triggered.Reason);
        Assert.Contains(evidence, triggered.Message, StringComparison.Ordinal);
        Assert.Equal(ruleName, Assert.Single(stopped.Status.RuleFirings!).Rule);
    }

    [Fact]
    public async Task An_operator_restart_mid_run_loses_no_published_metric_and_records_none_twice()
    {
        var op = await StartAsync();
        await using var harness = op.Harness;
        await harness.ApplyAsync(LiveJob("restart", Trainer("10/i")));
        var before = await op.UntilAsync("restart", j => HistoryLength(j, "train_loss") >= 3, TimeSpan.FromSeconds(10));
        var published = MetricHistoryCodec.Decode(before.Status!.MetricHistory).Of("train_loss").ToList();

        // A new operator (a restart, or another replica taking the lease) with nothing in memory.
        var successor = LiveOperator.Start(harness, Options);
        var after = await successor.UntilAsync("restart", j => HistoryLength(j, "train_loss") > published.Count + 2, TimeSpan.FromSeconds(10));

        var history = MetricHistoryCodec.Decode(after.Status!.MetricHistory).Of("train_loss").ToList();
        Assert.Equal(published.Select(p => (p.Value, p.Step)), history.Take(published.Count).Select(p => (p.Value, p.Step)));
        // The trainer prints a new step each line, so a value recorded twice would repeat a step.
        Assert.Equal(history.Count, history.Select(p => p.Step).Distinct().Count());
        Assert.Equal(before.Status.MetricSource!.Replica, after.Status.MetricSource!.Replica);
        Assert.True(after.Status.MetricSource.Sequence > before.Status.MetricSource.Sequence);
    }

    [Fact]
    public async Task An_answer_naming_another_job_or_pod_is_refused_and_the_genuine_one_accepted()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(T0);
        const int Port = 19401;
        var options = new InClusterOptions { LiveMetricsPort = Port };
        var poller = new LiveMetricsPoller(new HttpClient(), time, options);
        var job = Job("victim").Build();
        job.Metadata.Uid = "uid-victim";
        var pod = new V1Pod { Metadata = new V1ObjectMeta { Name = "victim-0", Uid = "uid-victim-pod" }, Status = new V1PodStatus { PodIP = "127.200.0.1" } };
        var answer = "";
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.200.0.1:{Port}{LiveMetricsDocument.Path}/");
        listener.Start();
        var serving = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                try
                {
                    var context = await listener.GetContextAsync();
                    var body = Encoding.UTF8.GetBytes(answer);
                    context.Response.OutputStream.Write(body);
                    context.Response.Close();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
            }
        });
        LiveMetricsDocument Document(string jobUid, string podUid) =>
            new(jobUid, podUid, T0, [new LivePoint(1, "train_loss", 0.01, T0, 1)], null);

        // Another job's rank 0 (e.g. a pod that was given a recycled IP) answering at the victim's address.
        answer = Document("uid-other-job", "uid-other-pod").Serialize();
        var forged = await poller.ReportAsync(job, pod, CancellationToken.None);
        // A pod claiming to be the victim's job, but not the pod polled.
        time.Advance(options.LiveMetricsInterval);
        answer = Document("uid-victim", "uid-other-pod").Serialize();
        var impostor = await poller.ReportAsync(job, pod, CancellationToken.None);
        time.Advance(options.LiveMetricsInterval);
        answer = Document("uid-victim", "uid-victim-pod").Serialize();
        var genuine = await poller.ReportAsync(job, pod, CancellationToken.None);
        listener.Stop();
        await serving;

        Assert.Null(forged.Report);
        Assert.Null(impostor.Report);
        Assert.Equal(2, poller.Refused);
        Assert.Equal("uid-victim-pod", genuine.Report!.Replica);
        // A refused answer never reaches the status function: the victim's status records nothing from it.
        var decision = TrainingJobStatusCalculator.Compute(new TrainingJobObservation(job,
            [.. Pods(job: "victim").Running(1).Build().Select(r => r with { Live = forged.Report })], T0));
        Assert.Null(decision.Status.Metrics);
        Assert.Null(decision.Status.MetricHistory);
    }

    private static string RulePolicyReason(string name) => Ferry.Operator.Reconciliation.Policies.RulePolicy.ReasonOf(name);

    private static async Task WaitForFileAsync(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(path))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{path} was never written: the trainer did not get SIGTERM");
            await Task.Delay(50);
        }
    }
}

/// <summary>These tests run real agent processes: one at a time keeps them within the machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LiveMetricsCollection
{
    public const string Name = "Live metrics processes";
}

/// <summary>An operator with live metrics on a harness: the poller and the InCluster backend around a reconciler, driven pass by pass.</summary>
internal sealed class LiveOperator(OperatorHarness harness, LiveMetricsPoller poller, TrainingJobReconciler reconciler)
{
    public OperatorHarness Harness => harness;

    public LiveMetricsPoller Poller => poller;

    public TrainingJobReconciler Reconciler => reconciler;

    /// <summary>A fresh operator process on the same cluster: new poller and backend state, nothing in memory.</summary>
    public static LiveOperator Start(OperatorHarness harness, InClusterOptions options)
    {
        var poller = new LiveMetricsPoller(new HttpClient(), harness.Time, options);
        var reconciler = new TrainingJobReconciler(
            new KubernetesTrainingJobStore(new KubernetesResourceClient<TrainingJob>(harness.OperatorClient), harness.JobInformer.Cache),
            [new InClusterBackend(
                new KubernetesResourceClient<V1Pod>(harness.OperatorClient),
                new KubernetesResourceClient<V1Service>(harness.OperatorClient),
                harness.PodInformer.Cache, options, null, poller)],
            new KubernetesEventSink(new KubernetesResourceClient<Corev1Event>(harness.OperatorClient), harness.Time),
            harness.Time);
        return new LiveOperator(harness, poller, reconciler);
    }

    /// <summary>Reconciles until <paramref name="done"/>, advancing the fake clock by <paramref name="step"/> per pass.</summary>
    public async Task<TrainingJob> UntilAsync(string name, Func<TrainingJob, bool> done, TimeSpan step, int timeoutSeconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            try
            {
                await reconciler.ReconcileAsync(OperatorHarness.Namespace, name, CancellationToken.None);
            }
            catch (KubernetesApiException e) when (e.IsConflict)
            {
                // The cache was behind: the next pass reads fresh state.
            }
            catch (KubernetesApiException e)
            {
                throw new InvalidOperationException(e.Message + ": " + string.Join("; ", harness.Api.RequestLog.Entries.Where(r => r.StatusCode >= 500).Select(r => $"{r.Verb} {r.Path}")), e);
            }

            harness.AssertNothingForbidden();
            var job = (await harness.GetAsync(name))!;
            if (done(job))
            {
                return job;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"TrainingJob {name}: phase {job.Status?.Phase}, metrics [{string.Join(", ", job.Status?.Metrics?.Select(m => $"{m.Name}={m.Value}") ?? [])}], " +
                    $"conditions [{string.Join("; ", job.Status?.Conditions?.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}") ?? [])}]\n"
                    + string.Join('\n', ((ProcessPodRuntime)harness.Api.Kubelet.Runtime).Logs.TakeLast(30)));
            }

            // The clock moves only while the job runs: starting real processes takes real time, which a fake
            // clock racing ahead would turn into a missed start-up deadline.
            if (job.Status?.Phase is TrainingJobPhase.Running or TrainingJobPhase.Stopped)
            {
                harness.Time.Advance(step);
            }

            await Task.Delay(50);
        }
    }
}
