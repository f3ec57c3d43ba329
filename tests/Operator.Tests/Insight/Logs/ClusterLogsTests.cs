using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Cli;
using Ferry.Operator.Cli.Insight;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Insight.Logs;

/// <summary>
/// `ferry logs` for InCluster jobs: the pod's log through the Kubernetes API's pods/log (served here by a minimal HTTP
/// server, since the Kubernetes API emulator does not serve pods/log), and an ended attempt's copy under spec.output.uri.
/// </summary>
public sealed class ClusterLogsTests : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly string _kubeconfig = Path.Combine(Path.GetTempPath(), $"ferry-logs-{Guid.NewGuid():N}.kubeconfig");
    private readonly string _output = Directory.CreateTempSubdirectory("ferry-logs-out-").FullName;
    private readonly Task _serving;
    private TrainingJob _job;

    public ClusterLogsTests()
    {
        _job = Job("fm").WithReplicas(2).With(j =>
        {
            j.Metadata.NamespaceProperty = "team";
            j.Metadata.Uid = "u-1";
            j.Spec.Output = new OutputSpec { Uri = "file://" + _output };
            j.Status = new TrainingJobStatus { Phase = TrainingJobPhase.Running, Attempt = 2 };
        }).Build();
        var port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        _listener.Start();
        _serving = ServeAsync();
        File.WriteAllText(_kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: "http://127.0.0.1:{port}"
            contexts:
            - name: fake
              context:
                cluster: fake
                user: me
                namespace: team
            current-context: fake
            users:
            - name: me
              user:
                token: test
            """);
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        File.Delete(_kubeconfig);
        Directory.Delete(_output, recursive: true);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            var path = context.Request.Url!.AbsolutePath;
            _requests.Enqueue(context.Request.Url.PathAndQuery);
            var (status, body, type) = path switch
            {
                "/apis/ferry.dev/v1alpha1/namespaces/team/trainingjobs/fm" => (200, KubernetesJson.Serialize(_job), "application/json"),
                "/api/v1/namespaces/team/pods/fm-1" => (200, KubernetesJson.Serialize(new V1Pod
                {
                    ApiVersion = "v1",
                    Kind = "Pod",
                    Metadata = new V1ObjectMeta { Name = "fm-1", NamespaceProperty = "team", Labels = new Dictionary<string, string> { [TrainingJobLabels.JobName] = "fm" } },
                }), "application/json"),
                "/api/v1/namespaces/team/pods/fm-1/log" => (200, "epoch=1 step=10 train_loss=0.9\nrank 1 of attempt 2\n", "text/plain"),
                _ => (404, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}""", "application/json"),
            };
            context.Response.StatusCode = status;
            context.Response.ContentType = type;
            var bytes = Encoding.UTF8.GetBytes(body);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    private async Task<(int Exit, string Output, string Error)> LogsAsync(string target, LogRequest request)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await LogsCommand.RunAsync(new LogsOptions(target, request, Local: false, null, new ClusterConnection(_kubeconfig, null, null)),
            output, error, TimeProvider.System, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task The_current_attempts_log_comes_from_pods_log_of_the_train_container()
    {
        var (exit, output, error) = await LogsAsync("tj/fm", new LogRequest("", Rank: 1, Follow: true));

        Assert.True(exit == 0, error);
        Assert.Equal("epoch=1 step=10 train_loss=0.9\nrank 1 of attempt 2\n", output);
        var logRequest = Assert.Single(_requests, r => r.StartsWith("/api/v1/namespaces/team/pods/fm-1/log", StringComparison.Ordinal));
        Assert.Contains("container=train", logRequest, StringComparison.Ordinal);
        Assert.Contains("follow=true", logRequest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ended_attempts_log_is_read_from_its_copy_under_the_output_uri()
    {
        var copy = Path.Combine(_output, "fm", "attempt-1", "algo-2.log");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        await File.WriteAllTextAsync(copy, "rank 1 of attempt 1\nTraceback: boom\n");

        var (exit, output, error) = await LogsAsync("trainingjob/fm", new LogRequest("", Rank: 1, Attempt: 1));

        Assert.True(exit == 0, error);
        Assert.Equal("rank 1 of attempt 1\nTraceback: boom\n", output);
        Assert.DoesNotContain(_requests, r => r.Contains("/log", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("tj/fm", 5, null, "pod team/fm-5 (rank 5 of TrainingJob fm) does not exist; check --rank")]
    [InlineData("tj/fm", 0, 1, "no log of rank 0 in attempt 1 at file://")]
    [InlineData("tj/gone", 0, null, "TrainingJob team/gone not found")]
    [InlineData("pod/fm-0", 0, null, "'pod/fm-0' names no TrainingJob; write tj/NAME")]
    public async Task Mistakes_are_explained(string target, int rank, int? attempt, string message)
    {
        var (exit, _, error) = await LogsAsync(target, new LogRequest("", rank, attempt));

        Assert.Equal(1, exit);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
