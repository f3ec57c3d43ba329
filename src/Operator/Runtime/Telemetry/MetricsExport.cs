using OpenTelemetry.Metrics;

namespace Ferry.Operator.Runtime.Telemetry;

/// <summary>What the operator exports at <c>/metrics</c>: the operator's meter (every Ferry instrument) and the .NET runtime's.</summary>
public static class MetricsExport
{
    /// <summary>Meters exported besides <see cref="OperatorTelemetry.MeterName"/>: the runtime's GC, heap and thread-pool metrics (<c>dotnet_*</c>).</summary>
    public static readonly IReadOnlyList<string> RuntimeMeters = ["System.Runtime"];

    /// <summary>Adds the exported meters and the Prometheus exporter to <paramref name="metrics"/>.</summary>
    /// <param name="metrics">The meter provider being built.</param>
    /// <param name="scrapeCacheMilliseconds">How long one rendered scrape is served again (the exporter's default is 300 ms).</param>
    public static MeterProviderBuilder AddFerryMetrics(this MeterProviderBuilder metrics, int scrapeCacheMilliseconds = 300) => metrics
        .AddMeter([OperatorTelemetry.MeterName, .. RuntimeMeters])
        // Prometheus reserves the _count suffix for histograms and summaries (promtool check metrics refuses it elsewhere).
        .AddView("dotnet.assembly.count", "dotnet.assemblies.loaded")
        .AddView("dotnet.process.cpu.count", "dotnet.process.cpus")
        .AddView("dotnet.timer.count", "dotnet.timers")
        .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = scrapeCacheMilliseconds);
}
