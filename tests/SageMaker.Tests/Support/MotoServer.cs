using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ferry.SageMaker.Tests.Support;

/// <summary>`moto_server` (the pyenv python3's moto) on a free loopback port, for the duration of a test.</summary>
public sealed class MotoServer : IAsyncDisposable
{
    private readonly Process _server;

    private MotoServer(Process server, Uri endpoint)
    {
        _server = server;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public static async Task<MotoServer> StartAsync()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo("moto_server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-H", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        var server = Process.Start(start) ?? throw new InvalidOperationException("moto_server did not start; is it on PATH (pyenv python3 with moto)?");
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, _) => { };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        var endpoint = new Uri($"http://127.0.0.1:{port}/");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(endpoint, "moto-api/"));
                return new MotoServer(server, endpoint);
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !server.HasExited)
            {
                // Readiness polling against a separate process's start-up; nothing in the test waits on it otherwise.
                await Task.Delay(100);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_server.HasExited)
        {
            _server.Kill(entireProcessTree: true);
            _server.WaitForExit(10_000);
        }

        _server.Dispose();
        return ValueTask.CompletedTask;
    }
}
