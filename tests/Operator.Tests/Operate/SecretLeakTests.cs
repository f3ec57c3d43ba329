using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.Operator.Hosting;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Operate;

/// <summary>
/// Recognisable fake secrets in a job's spec (env values, AWS credentials, a pre-signed URL) never reach the operator's
/// logs (every level), the job's Events, its status or /metrics, across a full InCluster run with a failure and a restart.
/// </summary>
public sealed class SecretLeakTests
{
    private static readonly string[] Secrets =
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
                j.Spec.Env = new Dictionary<string, string>
                {
                    ["API_TOKEN"] = Secrets[0],
                    ["AWS_ACCESS_KEY_ID"] = "AKIAFAKEACCESSKEY0003",
                    ["AWS_SECRET_ACCESS_KEY"] = Secrets[1],
                    ["AWS_SESSION_TOKEN"] = Secrets[2],
                    ["DATA_URL"] = "https://bucket.s3.amazonaws.com/data.csv?X-Amz-Credential=AKIAFAKEACCESSKEY0003&" + Secrets[3],
                };
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

    private sealed class TextCapture(List<string> lines) : ILoggerProvider
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
