using System.Threading.Channels;

namespace Ferry.KubeEmulator.Store;

/// <summary>One open watch: committed events of its collection are queued here in resourceVersion order.</summary>
internal sealed class WatchSubscription(ResourceCollection collection, string? ns) : IDisposable
{
    private readonly CancellationTokenSource _dropped = new();

    public ResourceCollection Collection { get; } = collection;
    public string? Namespace { get; } = ns;
    public Channel<WatchEvent> Events { get; } = Channel.CreateUnbounded<WatchEvent>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Cancelled when a fault drops the stream.</summary>
    public CancellationToken Dropped => _dropped.Token;

    public Action<WatchSubscription>? OnDispose { get; set; }

    public void Drop()
    {
        try
        {
            _dropped.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The watch ended (its request finished) while the emulator was dropping every stream: nothing to drop.
        }
    }

    public void Dispose()
    {
        OnDispose?.Invoke(this);
        _dropped.Dispose();
    }
}
