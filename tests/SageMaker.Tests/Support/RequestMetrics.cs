using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Ferry.Operator.Runtime.Telemetry;

namespace Ferry.SageMaker.Tests.Support;

/// <summary>Listens to <c>ferry.sagemaker.requests</c> and sums it by (operation, outcome).</summary>
public sealed class RequestMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Operation, string Outcome), long> _counts = new();

    public RequestMetrics()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OperatorTelemetry.MeterName && instrument.Name == "ferry.sagemaker.requests")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? operation = null, outcome = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "operation")
                {
                    operation = tag.Value as string;
                }
                else if (tag.Key == "outcome")
                {
                    outcome = tag.Value as string;
                }
            }

            _counts.AddOrUpdate((operation ?? "", outcome ?? ""), value, (_, n) => n + value);
        });
        _listener.Start();
    }

    public long Count(string operation, string outcome) => _counts.TryGetValue((operation, outcome), out var n) ? n : 0;

    public void Dispose() => _listener.Dispose();
}

/// <summary>Tests that read the process-wide request counter run alone, so no other test's calls mix in.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection
{
    public const string Name = "SageMaker request metrics";
}
