using System.Collections.Concurrent;

namespace Ferry.Operator.SageMaker;

/// <summary>Clients by region: a TrainingJob names its region (<c>spec.sageMaker.region</c>), else the operator's applies.</summary>
public interface ISageMakerClientFactory
{
    /// <summary>The client for <paramref name="region"/>, or for the default region when null or empty.</summary>
    ISageMakerClient For(string? region);

    /// <summary>The CloudWatch Logs client for <paramref name="region"/> (training jobs' logs), or null when logs cannot be read.</summary>
    ICloudWatchLogsClient? LogsFor(string? region) => null;
}

/// <summary>
/// One <see cref="SageMakerClient"/> per region, made from <paramref name="template"/> (its region is the default one);
/// an endpoint override in the template applies to every region (VPC endpoints are per region, so set it only with one).
/// </summary>
public sealed class SageMakerClientFactory(SageMakerClientOptions template, HttpClient? http = null) : ISageMakerClientFactory, IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<SageMakerClient>> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<CloudWatchLogsClient>> _logs = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ISageMakerClient For(string? region)
    {
        var name = string.IsNullOrEmpty(region) ? template.Region : region;
        return _clients.GetOrAdd(name, r => new Lazy<SageMakerClient>(() => new SageMakerClient(template with { Region = r }, http))).Value;
    }

    /// <inheritdoc />
    public ICloudWatchLogsClient? LogsFor(string? region)
    {
        var name = string.IsNullOrEmpty(region) ? template.Region : region;
        return _logs.GetOrAdd(name, r => new Lazy<CloudWatchLogsClient>(() => new CloudWatchLogsClient(template with { Region = r }, http))).Value;
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values.Where(c => c.IsValueCreated))
        {
            client.Value.Dispose();
        }

        foreach (var client in _logs.Values.Where(c => c.IsValueCreated))
        {
            client.Value.Dispose();
        }
    }
}
