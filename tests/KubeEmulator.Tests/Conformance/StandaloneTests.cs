using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>The standalone process: prints its URL and kubeconfig path, loads CRDs, serves until stopped.</summary>
public sealed class StandaloneTests
{
    [Fact]
    public async Task Standalone_emulator_prints_url_and_kubeconfig_and_serves_the_crd()
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"standalone-{Guid.NewGuid():N}.kubeconfig");
        var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Ferry.KubeEmulator.dll"), "--kubeconfig", kubeconfig, "--crd", EmulatorHost.FixtureCrd])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var first = await process.StandardOutput.ReadLineAsync(cts.Token);
            var second = await process.StandardOutput.ReadLineAsync(cts.Token);
            Assert.StartsWith("Kubernetes API emulator listening on http://127.0.0.1:", first, StringComparison.Ordinal);
            Assert.Equal($"kubeconfig: {kubeconfig}", second);
            Assert.Contains("server: http://127.0.0.1:", await File.ReadAllTextAsync(kubeconfig, cts.Token), StringComparison.Ordinal);

            using var http = new HttpClient { BaseAddress = new Uri(first!["Kubernetes API emulator listening on ".Length..]) };
            var resources = JsonNode.Parse(await http.GetStringAsync("apis/ferry.dev/v1alpha1", cts.Token))!;
            Assert.Contains(resources["resources"]!.AsArray(), r => (string?)r!["name"] == "trainingjobs");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Protobuf_request_bodies_are_refused_with_a_hint()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        using var http = new HttpClient { BaseAddress = api.BaseAddress };
        using var content = new ByteArrayContent("k8s\0"u8.ToArray());
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/vnd.kubernetes.protobuf");
        var response = await http.PostAsync("api/v1/namespaces", content);
        Assert.Equal(415, (int)response.StatusCode);
        Assert.Contains("kubectl apply -f", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["message"], StringComparison.Ordinal);
    }
}
