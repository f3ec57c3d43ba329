using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Amazon.S3.Model;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.Operator.Hosting;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Storage;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Runtime.Telemetry;

/// <summary>
/// Debian's Prometheus scrapes the `ferry operator` host while it runs jobs against the Kubernetes API emulator; PromQL
/// over Prometheus's HTTP API sees the jobs, the alert rules load, every dashboard query returns data, and
/// `promtool check metrics` accepts the exposition.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class PrometheusScrapeTests(MotoS3 moto)
{
    private static readonly string Chart = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(OperatorHarness.CrdPath)!, "..", "..", "deploy", "helm", "ferry"));

    // Its own namespace: the job metrics are shared by every test in the process.
    private const string Namespace = "prometheus-e2e";

    [Fact]
    public async Task Prometheus_scrapes_the_operator_and_PromQL_sees_jobs_requests_and_every_dashboard_query()
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [OperatorHarness.CrdPath] });
        api.Kubelet.Script.When("prom-ok-*", TimeSpan.FromSeconds(1), 0, containerName: "train");
        api.Kubelet.Script.When("prom-broken-*", TimeSpan.FromSeconds(1), 3, containerName: "train");
        api.Kubelet.Script.When("prom-long-*", TimeSpan.FromMinutes(10), 0, containerName: "train");
        api.Kubelet.Start();
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        var jobs = new KubernetesResourceClient<TrainingJob>(client);
        await new KubernetesResourceClient<V1Namespace>(client).CreateAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = Namespace } });
        var app = OperatorHost.Build(
            HostedOperator.Settings(api.KubeconfigPath, Namespace, new Dictionary<string, string?> { ["Lifecycle:RestartBackoffSeconds"] = "0" }),
            setups: [new TrainingJobControllerSetup()]);
        await app.StartAsync();
        var work = Directory.CreateTempSubdirectory("ferry-prometheus-");
        Process? prometheus = null;
        try
        {
            var operatorAddress = OperatorHost.ListeningAddress(app);
            foreach (var (name, retries) in new[] { ("prom-ok", 0), ("prom-broken", 1), ("prom-long", 0) })
            {
                var job = Job(name).WithReplicas(1).WithMaxRetries(retries).Build();
                job.Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace };
                await jobs.CreateAsync(job);
            }

            // Calls of the real S3 and SageMaker clients, counted on the same meter the host exports.
            using (var s3 = S3ObjectStore.CreateClient(moto.Settings))
            {
                await Assert.ThrowsAnyAsync<Exception>(() => s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "no-such-bucket-prom" }));
            }

            using (var sageMaker = new SageMakerClient(new SageMakerClientOptions
            {
                Region = "us-east-1",
                Endpoint = new Uri($"http://127.0.0.1:{FreePort()}"),
                Credentials = new Amazon.Runtime.BasicAWSCredentials("test", "test"),
                MaxAttempts = 1,
            }))
            {
                await Assert.ThrowsAnyAsync<Exception>(() => sageMaker.DescribeTrainingJobAsync(new DescribeTrainingJobRequest { TrainingJobName = "none" }));
            }

            var port = FreePort();
            var config = Path.Combine(work.FullName, "prometheus.yml");
            File.WriteAllText(config, $"""
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                rule_files:
                  - {Path.Combine(Chart, "files", "prometheus-rules.yaml")}
                scrape_configs:
                  - job_name: ferry
                    static_configs:
                      - targets: ["{operatorAddress.Authority}"]
                """);
            prometheus = Process.Start(new ProcessStartInfo("prometheus",
                [$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(work.FullName, "data")}", $"--web.listen-address=127.0.0.1:{port}"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            prometheus.ErrorDataReceived += (_, _) => { };
            prometheus.BeginErrorReadLine();
            prometheus.BeginOutputReadLine();
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

            double? Scalar(JsonElement result) => result.GetArrayLength() == 0 ? null
                : double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            async Task<JsonElement> QueryAsync(string promql)
            {
                using var response = await http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(promql));
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable)
                {
                    // Until its storage is ready, Prometheus answers 503 with a plain-text "Service Unavailable".
                    throw new HttpRequestException($"Prometheus is not ready: {text}");
                }

                var body = JsonDocument.Parse(text).RootElement;
                Assert.True(body.GetProperty("status").GetString() == "success", $"{promql}: {body}");
                return body.GetProperty("data").GetProperty("result").Clone();
            }

            async Task UntilAsync(string promql, double expected)
            {
                var deadline = DateTime.UtcNow.AddSeconds(90);
                double? last = null;
                while (DateTime.UtcNow < deadline)
                {
                    try
                    {
                        last = Scalar(await QueryAsync(promql));
                        if (last == expected)
                        {
                            return;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // Prometheus is still starting.
                    }

                    await Task.Delay(250);
                }

                Assert.Fail($"{promql} stayed {last?.ToString(CultureInfo.InvariantCulture) ?? "empty"}, expected {expected}");
            }

            await UntilAsync("sum(ferry_trainingjobs{namespace=\"prometheus-e2e\",phase=\"Succeeded\"})", 1);
            await UntilAsync("sum(ferry_trainingjobs{namespace=\"prometheus-e2e\",phase=\"Failed\"})", 1);
            await UntilAsync("sum(ferry_trainingjobs{namespace=\"prometheus-e2e\",phase=\"Running\"})", 1);
            await UntilAsync("sum(ferry_trainingjob_completions_total{namespace=\"prometheus-e2e\",backend=\"InCluster\"})", 1);
            await UntilAsync("sum(ferry_trainingjob_failures_total{namespace=\"prometheus-e2e\",reason=\"MaxRetriesExceeded\"})", 1);
            await UntilAsync("sum(ferry_trainingjob_restarts_total{namespace=\"prometheus-e2e\"})", 1);
            await UntilAsync("sum(ferry_trainingjob_starts_total{namespace=\"prometheus-e2e\"})", 4);
            await UntilAsync("count(ferry_trainingjob_time_to_running_seconds_count) > bool 0", 1);
            await UntilAsync("sum(ferry_s3_requests_total{operation=\"ListObjectsV2\",outcome=\"NoSuchBucket\"})", 1);
            await UntilAsync("sum(ferry_sagemaker_requests_total{operation=\"DescribeTrainingJob\",outcome=\"network_error\"})", 1);
            await UntilAsync("sum(ferry_kubernetes_requests_total{verb=\"create\",resource=\"pods\",code=\"201\"}) >= bool 4", 1);
            await UntilAsync("count(ferry_kubernetes_requests_total{verb=\"watch\",resource=\"trainingjobs\"}) > bool 0", 1);
            await UntilAsync("count(ferry_kubernetes_requests_total{resource=\"trainingjobs/status\"}) > bool 0", 1);
            // Two more scrapes, so rate() over the dashboard's window has samples after every change above.
            await UntilAsync("count_over_time(ferry_leader[1m]) >= bool 5", 1);

            using (var rules = await http.GetAsync("/api/v1/rules"))
            {
                var groups = JsonDocument.Parse(await rules.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetProperty("groups");
                var loaded = groups.EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToList();
                Assert.Equal(7, loaded.Count);
                Assert.All(loaded, r => Assert.Equal("ok", r.GetProperty("health").GetString()));
            }

            var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Chart, "files", "grafana-dashboard.json"))).RootElement;
            var queries = dashboard.GetProperty("panels").EnumerateArray()
                .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => (Title: p.GetProperty("title").GetString(), Expr: t.GetProperty("expr").GetString()!)))
                .ToList();
            Assert.NotEmpty(queries);
            var empty = new List<string>();
            foreach (var (title, expr) in queries)
            {
                var promql = expr.Replace("$namespace", ".*", StringComparison.Ordinal).Replace("$__rate_interval", "1m", StringComparison.Ordinal);
                if ((await QueryAsync(promql)).GetArrayLength() == 0)
                {
                    empty.Add($"{title}: {promql}");
                }
            }

            Assert.Empty(empty);

            using var metricsClient = new HttpClient { BaseAddress = operatorAddress };
            var exposition = await metricsClient.GetStringAsync("/metrics");
            var check = Process.Start(new ProcessStartInfo("promtool", ["check", "metrics"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            await check.StandardInput.WriteAsync(exposition);
            check.StandardInput.Close();
            var lint = await check.StandardOutput.ReadToEndAsync() + await check.StandardError.ReadToEndAsync();
            await check.WaitForExitAsync();
            Assert.True(check.ExitCode == 0, "promtool check metrics: " + lint);
        }
        finally
        {
            if (prometheus is { HasExited: false })
            {
                prometheus.Kill(entireProcessTree: true);
                await prometheus.WaitForExitAsync();
            }

            prometheus?.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            work.Delete(recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
