using Ferry.Operator.Agent;
using Ferry.Operator.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// What a SageMaker job can resume from. SageMaker copies `/opt/ml/checkpoints` to the job's `CheckpointConfig.S3Uri`
/// (`spec.checkpoint.uri`) while it trains and into the next job before it starts; there is no agent in the container
/// to report it, so the operator lists that location itself — once per attempt that ended failed or stopped, and at a
/// spot interruption — and takes the newest complete checkpoint as the agent would (<see cref="CheckpointSync.NewestOf"/>).
/// The status then names it ("resuming from epoch 3 (s3://…, saved 12:03:07 UTC)"). Needs `s3:ListBucket` on the
/// checkpoint bucket for the operator; without it the status says only where the checkpoints are.
/// </summary>
public sealed class SageMakerCheckpoints(S3Settings settings, ILogger logger) : IDisposable
{
    private readonly Dictionary<string, ObjectStoreFactory> _stores = new(StringComparer.Ordinal);
    private readonly object _lock = new();

    /// <summary>The newest complete checkpoint under <paramref name="checkpointUri"/> (S3, in <paramref name="region"/>), or null.</summary>
    public async Task<CheckpointReport?> NewestAsync(string checkpointUri, string region, CancellationToken cancellationToken)
    {
        try
        {
            using var store = StoresFor(region).Open(checkpointUri, "spec.checkpoint.uri");
            var objects = await store.ListAsync(cancellationToken);
            return CheckpointSync.NewestOf(
                checkpointUri,
                objects.Where(o => o.LastModified is not null).Select(o => new CheckpointSync.CheckpointFile(o.Key, o.Size, o.LastModified!.Value.UtcDateTime)));
        }
        catch (Exception e) when (e is Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException or HttpRequestException or IOException
            && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Listing the checkpoints in {CheckpointUri} failed ({Message}); the status names the location only", checkpointUri, e.Message);
            return null;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var stores in _stores.Values)
            {
                stores.Dispose();
            }

            _stores.Clear();
        }
    }

    private ObjectStoreFactory StoresFor(string region)
    {
        lock (_lock)
        {
            if (!_stores.TryGetValue(region, out var stores))
            {
                stores = new ObjectStoreFactory(settings with { Region = region.Length > 0 ? region : settings.Region });
                _stores[region] = stores;
            }

            return stores;
        }
    }
}
