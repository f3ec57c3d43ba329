using System.Globalization;
using Ferry.Operator.Runtime.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Tests.Runtime.Telemetry;

/// <summary>The operator's metrics export (<see cref="MetricsExport"/>) served on a loopback port, as the host serves it, without a cluster.</summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;

    private MetricsEndpoint(WebApplication app, Uri address)
    {
        _app = app;
        _http = new HttpClient { BaseAddress = address };
    }

    /// <summary>Starts the endpoint; every scrape renders afresh.</summary>
    public static async Task<MetricsEndpoint> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddFerryMetrics(scrapeCacheMilliseconds: 0));
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        await app.StartAsync();
        var address = app.Urls.First();
        return new MetricsEndpoint(app, new Uri(address));
    }

    /// <summary>One scrape in the Prometheus text format.</summary>
    public async Task<string> ScrapeAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Accept.ParseAdd("text/plain; version=0.0.4");
        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Reads samples out of a Prometheus text exposition.</summary>
public static class Exposition
{
    /// <summary>The value of the one sample of <paramref name="name"/> that carries every label in <paramref name="labels"/>, or null.</summary>
    public static double? Value(string exposition, string name, params (string Label, string Value)[] labels)
    {
        var matches = Samples(exposition, name, labels).ToList();
        return matches.Count switch
        {
            0 => null,
            1 => matches[0],
            _ => throw new InvalidOperationException($"{matches.Count} samples of {name} match {string.Join(",", labels)}; name more labels."),
        };
    }

    /// <summary>The values of every sample of <paramref name="name"/> that carries every label in <paramref name="labels"/>.</summary>
    public static IEnumerable<double> Samples(string exposition, string name, params (string Label, string Value)[] labels)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line[name.Length..];
            if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' '))
            {
                continue;
            }

            var labelEnd = rest[0] == '{' ? rest.IndexOf('}') : -1;
            var labelText = labelEnd < 0 ? "" : rest[..(labelEnd + 1)];
            if (!labels.All(l => labelText.Contains($"{l.Label}=\"{l.Value}\"", StringComparison.Ordinal)))
            {
                continue;
            }

            var value = rest[(labelEnd + 1)..].Trim().Split(' ')[0];
            yield return value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                _ => double.Parse(value, CultureInfo.InvariantCulture),
            };
        }
    }
}
