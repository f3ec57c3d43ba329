using System.Diagnostics.Metrics;
using Amazon.Runtime;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Hosting;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Telemetry;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Tests.Fixtures;
using Ferry.Operator.Tests.SageMaker;
using Ferry.SageMakerEmulator;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Operate;

/// <summary>
/// Recognisable fake secrets in a job's spec (env values, AWS credentials, a pre-signed URL) never reach the operator's
/// logs (every level), the job's Events, its status or /metrics, across a full InCluster run with a failure and a restart,
/// a full SageMaker run (with throttled and failed SageMaker calls) and a `ferry run` of the Local backend.
/// </summary>
public sealed class SecretLeakTests
{
    internal static readonly string[] Secrets =
    [
        "FAKESECRETENVVALUE0xC0FFEE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEKEY0001",
        "FwoGZXIvYXdzFAKESESSIONTOKEN0002",
        "X-Amz-Signature=fa4e0000000000000000000000000000000000000000000000000000000fake3",
    ];

    [Fact]
    public async Task Fake_secrets_in_the_spec_appear_in_no_log_event_status_or_metric()
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [OperatorHarness.CrdPath] });
        api.Kubelet.Script.When("leak-*", TimeSpan.FromSeconds(1), 1, message: "training failed", containerName: "train");
        api.Kubelet.Start();
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        var jobs = new KubernetesResourceClient<TrainingJob>(client);
        var logs = new List<string>();
        var app = OperatorHost.Build(
            HostedOperator.Settings(api.KubeconfigPath, extra: new Dictionary<string, string?> { ["Lifecycle:RestartBackoffSeconds"] = "0" }),
            setups: [new TrainingJobControllerSetup()],
            configureServices: services => services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new TextCapture(logs))));
        await app.StartAsync();
        string metrics;
        try
        {
            var job = Job("leak").WithReplicas(2).WithMaxRetries(1).With(j =>
            {
                j.Spec.Env = SecretEnv();
            }).Build();
            job.Metadata = new V1ObjectMeta { Name = "leak", NamespaceProperty = "default" };
            await jobs.CreateAsync(job);
            await HostedOperator.WaitForPhaseAsync(jobs, "default", "leak", TrainingJobPhase.Failed);

            using var http = new HttpClient { BaseAddress = OperatorHost.ListeningAddress(app) };
            metrics = await http.GetStringAsync("/metrics");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        var status = KubernetesJson.Serialize((await jobs.GetAsync("default", "leak"))!.Status);
        Assert.Equal(2, (await jobs.GetAsync("default", "leak"))!.Status!.Attempt);
        var events = (await new KubernetesResourceClient<Corev1Event>(client).ListAsync("default")).Items;
        Assert.NotEmpty(events);
        var eventText = string.Join("\n", events.Select(e => e.Reason + " " + e.Message));
        string logText;
        lock (logs)
        {
            logText = string.Join("\n", logs);
        }

        Assert.NotEmpty(logText);
        foreach (var secret in Secrets.Append("AKIAFAKEACCESSKEY0003"))
        {
            Assert.DoesNotContain(secret, logText, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, eventText, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, status, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, metrics, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Fake_secrets_in_a_SageMaker_job_appear_in_no_log_event_status_or_metric_and_its_calls_are_counted()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        var logs = new List<string>();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new TextCapture(logs)));
        using var clients = new SageMakerClientFactory(new SageMakerClientOptions
        {
            Region = SageMakerOperatorHarness.Region,
            Endpoint = h.SageMaker.BaseAddress,
            Credentials = new BasicAWSCredentials(SageMakerApiEmulator.TestCredentials.AccessKeyId, SageMakerApiEmulator.TestCredentials.SecretAccessKey),
            BaseDelay = TimeSpan.FromMilliseconds(2),
            MaxDelay = TimeSpan.FromMilliseconds(50),
            MaxAttempts = 8,
        });
        var reconciler = new TrainingJobReconciler(new KubernetesTrainingJobStore(h.Jobs, h.JobInformer.Cache),
            [new SageMakerBackend(clients, h.Options, h.Time, loggers.CreateLogger<SageMakerBackend>(), new Random(7))],
            new KubernetesEventSink(h.Events, h.Time, loggers.CreateLogger<KubernetesEventSink>()), h.Time, loggers.CreateLogger<TrainingJobReconciler>());
        using var metrics = new MetricCapture();

        await h.ApplyAsync(SageMakerOperatorHarness.Job("leak-sm", spec =>
        {
            spec.Env = SecretEnv();
            spec.HyperParameters = new Dictionary<string, string> { ["api_token"] = Secrets[0], ["data_url"] = "https://bucket.s3.amazonaws.com/d.csv?" + Secrets[3] };
        }));
        // SageMaker refuses a hyperparameter value with a line break (its pattern is Java's `.*`) and, as AWS does, quotes
        // the value in its ValidationException.
        await h.ApplyAsync(SageMakerOperatorHarness.Job("leak-sm-refused", spec =>
            spec.HyperParameters = new Dictionary<string, string> { ["note"] = "first line\n" + Secrets[2] }));
        h.SageMaker.Faults.FailNext(1, 500, "CreateTrainingJob");
        h.SageMaker.Faults.ThrottleNext(2, "DescribeTrainingJob");
        var job = await ReconcileUntilAsync(h, reconciler, "leak-sm", TrainingJobPhase.Succeeded);
        var refused = await ReconcileUntilAsync(h, reconciler, "leak-sm-refused", TrainingJobPhase.Failed);
        Assert.Contains("SageMaker refused", refused.Status!.FailureReason, StringComparison.Ordinal);
        Assert.Contains("<spec.hyperParameters.note value>", refused.Status.FailureReason, StringComparison.Ordinal);

        // The secrets did reach SageMaker, where they belong (the container's environment and hyperparameters).
        var described = h.Describe((await h.GetAsync("leak-sm"))!.Status!.SageMaker!.JobName!).ToJsonString();
        Assert.Contains(Secrets[0], described, StringComparison.Ordinal);

        // The lineage records hyperparameters (as SageMaker's DescribeTrainingJob shows them), masking what is named
        // or shaped like a credential; one with an innocent name and value (the refused job's note) is recorded as is,
        // since SageMaker asks that hyperparameters hold no secrets. Everything else in the status is scanned.
        Assert.Equal(new Dictionary<string, string> { ["api_token"] = "<masked>", ["data_url"] = "https://bucket.s3.amazonaws.com/d.csv?<masked>" },
            job.Status!.Lineage!.HyperParameters);
        job.Status.Lineage.HyperParameters = null;
        if (refused.Status.Lineage is { } refusedLineage)
        {
            refusedLineage.HyperParameters = null;
        }

        var status = KubernetesJson.Serialize(job.Status) + KubernetesJson.Serialize(refused.Status);
        var events = (await h.EventsOfAsync("leak-sm")).Concat(await h.EventsOfAsync("leak-sm-refused")).ToList();
        Assert.NotEmpty(events);
        var eventText = string.Join("\n", events.Select(e => e.Reason + " " + e.Message));
        string logText;
        lock (logs)
        {
            logText = string.Join("\n", logs);
        }

        Assert.NotEmpty(logText);
        var metricText = metrics.Text;
        foreach (var secret in Secrets.Append("AKIAFAKEACCESSKEY0003").Append(SageMakerApiEmulator.TestCredentials.SecretAccessKey))
        {
            Assert.DoesNotContain(secret, logText, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, eventText, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, status, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, metricText, StringComparison.Ordinal);
        }

        // SageMaker calls are counted by operation and outcome, failures included.
        Assert.True(metrics.Count("ferry.sagemaker.requests", ("operation", "CreateTrainingJob"), ("outcome", "success")) >= 1, metricText);
        Assert.True(metrics.Count("ferry.sagemaker.requests", ("operation", "CreateTrainingJob"), ("outcome", "InternalFailure")) >= 1, metricText);
        Assert.True(metrics.Count("ferry.sagemaker.requests", ("operation", "DescribeTrainingJob"), ("outcome", "ThrottlingException")) >= 2, metricText);
        Assert.True(metrics.Count("ferry.sagemaker.requests", ("operation", "DescribeTrainingJob"), ("outcome", "success")) >= 1, metricText);
    }

    private static async Task<TrainingJob> ReconcileUntilAsync(SageMakerOperatorHarness h, TrainingJobReconciler reconciler, string name, TrainingJobPhase phase)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        TrainingJob? job;
        while ((job = await h.GetAsync(name))?.Status?.Phase != phase)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{name} did not reach {phase}: {job?.Status?.Phase} {job?.Status?.FailureReason}");
            try
            {
                await reconciler.ReconcileAsync(SageMakerOperatorHarness.Namespace, name, CancellationToken.None);
            }
            catch (KubernetesApiException e) when (e.IsConflict)
            {
                // The cache was behind the API: the controller retries once the watch caught up.
            }

            h.Time.Advance(TimeSpan.FromSeconds(30));
            await Task.Delay(20);
        }

        return job!;
    }

    [Fact]
    public void Redaction_replaces_env_and_hyperparameter_values_and_their_lines_and_keeps_short_values()
    {
        var spec = new TrainingJobSpec
        {
            Env = new Dictionary<string, string> { ["API_TOKEN"] = Secrets[0], ["DEBUG"] = "1" },
            HyperParameters = new Dictionary<string, string> { ["epochs"] = "10", ["note"] = "first line\n" + Secrets[2] },
        };

        Assert.Equal("token <spec.env.API_TOKEN value>, epochs 10, debug 1, tail <spec.hyperParameters.note value>; whole '<spec.hyperParameters.note value>'",
            SpecValueRedaction.Redact(spec, $"token {Secrets[0]}, epochs 10, debug 1, tail {Secrets[2]}; whole 'first line\n{Secrets[2]}'"));
    }

    internal static Dictionary<string, string> SecretEnv() => new()
    {
        ["API_TOKEN"] = Secrets[0],
        ["AWS_ACCESS_KEY_ID"] = "AKIAFAKEACCESSKEY0003",
        ["AWS_SECRET_ACCESS_KEY"] = Secrets[1],
        ["AWS_SESSION_TOKEN"] = Secrets[2],
        ["DATA_URL"] = "https://bucket.s3.amazonaws.com/data.csv?X-Amz-Credential=AKIAFAKEACCESSKEY0003&" + Secrets[3],
    };

    /// <summary>Every measurement on the operator's meter while it lives: instrument, value and tags, as /metrics would expose them.</summary>
    private sealed class MetricCapture : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<(string Instrument, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = [];

        public MetricCapture()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == OperatorTelemetry.Meter.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
            _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
            _listener.Start();
        }

        public string Text
        {
            get
            {
                _listener.RecordObservableInstruments();
                lock (_measurements)
                {
                    return string.Join("\n", _measurements.Select(m => $"{m.Instrument}{{{string.Join(",", m.Tags.Select(t => $"{t.Key}={t.Value}"))}}} {m.Value}"));
                }
            }
        }

        public double Count(string instrument, params (string Key, string Value)[] tags)
        {
            lock (_measurements)
            {
                return _measurements.Where(m => m.Instrument == instrument
                    && tags.All(t => m.Tags.Any(k => k.Key == t.Key && Equals(k.Value as string, t.Value)))).Sum(m => m.Value);
            }
        }

        public void Dispose() => _listener.Dispose();

        private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = tags.ToArray();
            lock (_measurements)
            {
                _measurements.Add((instrument.Name, value, copy));
            }
        }
    }

    internal sealed class TextCapture(List<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(lines, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(List<string> lines, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull
            {
                lock (lines)
                {
                    lines.Add($"scope {category}: {state}");
                }

                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (lines)
                {
                    lines.Add($"{logLevel} {category}: {formatter(state, exception)} {exception}");
                }
            }
        }
    }
}

/// <summary>
/// `ferry run` of a Local job seeded with the same fake secrets in spec.env and spec.hyperParameters, whose first attempt
/// fails: nothing it prints (progress, events, the final status, errors) carries a secret, although the replicas got them.
/// </summary>
[Collection(Local.LocalProcessesCollection.Name)]
public sealed class LocalSecretLeakTests : IDisposable
{
    private readonly Local.LocalRun _run = new("ferry-local-leak-");

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task Fake_secrets_in_a_local_job_appear_in_nothing_ferry_run_prints()
    {
        var marker = _run.PathOf("failed-once");
        var seen = _run.PathOf("seen-by-replica");
        var script = _run.Script("train.sh", $$"""
            if [ "$RANK" = 0 ] && [ ! -f "{{marker}}" ]; then
              touch "{{marker}}"
              echo "loss diverged (simulated)" > "$FERRY_OPT_ML/output/failure"
              exit 3
            fi
            if [ "$RANK" = 0 ]; then echo "$API_TOKEN $SM_HP_API_TOKEN" > "{{seen}}"; fi
            echo "epoch=1 step=10 train_loss=0.25"
            """);
        var env = SecretLeakTests.SecretEnv();
        _run.Manifest($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: leak-local
            spec:
              backend: Local
              command: ["{{script}}"]
              output:
                uri: file://./out
              resources:
                replicas: 2
              maxRetries: 1
              env:
            {{string.Join("\n", env.Select(e => $"    {e.Key}: '{e.Value}'"))}}
              hyperParameters:
                api_token: '{{SecretLeakTests.Secrets[0]}}'
                data_url: 'https://bucket.s3.amazonaws.com/d.csv?{{SecretLeakTests.Secrets[3]}}'
            """);

        var (exit, output, error) = await _run.RunCommandAsync(verbose: true);

        Assert.True(exit == 0, output + error);
        Assert.Contains("attempt: 2", output, StringComparison.Ordinal);
        Assert.Equal($"{SecretLeakTests.Secrets[0]} {SecretLeakTests.Secrets[0]}\n", await File.ReadAllTextAsync(seen));
        foreach (var secret in SecretLeakTests.Secrets.Append("AKIAFAKEACCESSKEY0003"))
        {
            Assert.DoesNotContain(secret, output, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, error, StringComparison.Ordinal);
        }
    }
}
