using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Tests.Runtime.Support;

/// <summary>A list/watch source whose lists are queued by the test and whose watches the test drives event by event.</summary>
public sealed class ScriptedResourceClient<T> : IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly Lock _lock = new();
    private readonly Queue<Func<ResourceList<T>>> _lists = new();
    private readonly List<ScriptedWatch> _watches = [];
    private readonly Queue<Exception> _watchStartFailures = new();
    private int _listCalls;

    public ScriptedResourceClient(ResourceKind kind) => Kind = kind;

    public ResourceKind Kind { get; }

    public int ListCalls => Volatile.Read(ref _listCalls);

    public int WatchCalls
    {
        get
        {
            lock (_lock)
            {
                return _watches.Count;
            }
        }
    }

    /// <summary>The next list answers with these items at this resourceVersion.</summary>
    public void EnqueueList(string resourceVersion, params T[] items)
    {
        lock (_lock)
        {
            _lists.Enqueue(() => new ResourceList<T>(items, resourceVersion));
        }
    }

    /// <summary>The next list fails.</summary>
    public void EnqueueListFailure(Exception error)
    {
        lock (_lock)
        {
            _lists.Enqueue(() => throw error);
        }
    }

    /// <summary>The next watch request fails before streaming.</summary>
    public void EnqueueWatchStartFailure(Exception error)
    {
        lock (_lock)
        {
            _watchStartFailures.Enqueue(error);
        }
    }

    /// <summary>Completes with the <paramref name="index"/>-th watch (0-based) once the informer opened it.</summary>
    public async Task<ScriptedWatch> WatchAsync(int index)
    {
        var deadline = DateTime.UtcNow + Wait.Generous;
        while (true)
        {
            lock (_lock)
            {
                if (_watches.Count > index)
                {
                    return _watches[index];
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The informer did not open watch #{index}.");
            }

            await Task.Delay(2);
        }
    }

    public Task<ResourceList<T>> ListAsync(string? ns, string? labelSelector = null, CancellationToken cancellationToken = default)
    {
        Func<ResourceList<T>> next;
        lock (_lock)
        {
            Interlocked.Increment(ref _listCalls);
            if (!_lists.TryDequeue(out next!))
            {
                throw new InvalidOperationException("The test queued no list for this call.");
            }
        }

        return Task.FromResult(next());
    }

    public async IAsyncEnumerable<WatchEvent<T>> WatchAsync(
        string? ns, string resourceVersion, string? labelSelector = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ScriptedWatch watch;
        lock (_lock)
        {
            if (_watchStartFailures.TryDequeue(out var failure))
            {
                _watches.Add(new ScriptedWatch(resourceVersion, cancellationToken));
                throw failure;
            }

            watch = new ScriptedWatch(resourceVersion, cancellationToken);
            _watches.Add(watch);
        }

        await foreach (var change in watch.Events.Reader.ReadAllAsync(cancellationToken))
        {
            yield return change;
        }
    }

    public Task<T?> GetAsync(string? ns, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<T> CreateAsync(T obj, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<T> PatchAsync(string? ns, string name, V1Patch patch, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<T> ReplaceStatusAsync(T obj, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public Task<bool> DeleteAsync(string? ns, string name, V1DeleteOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    /// <summary>One watch request: the resourceVersion it resumed from and a channel the test writes events into.</summary>
    public sealed class ScriptedWatch(string resourceVersion, CancellationToken token)
    {
        public string ResourceVersion { get; } = resourceVersion;

        public CancellationToken Token { get; } = token;

        internal Channel<WatchEvent<T>> Events { get; } = Channel.CreateUnbounded<WatchEvent<T>>();

        public void Send(WatchEventType type, T obj) => Events.Writer.TryWrite(new WatchEvent<T>(type, obj));

        public void SendError(int code, string message) =>
            Events.Writer.TryWrite(new WatchEvent<T>(WatchEventType.Error, null, new V1Status { Code = code, Message = message }));

        /// <summary>The server closes the stream (or the connection drops).</summary>
        public void Drop() => Events.Writer.TryComplete();

        public void Fail(Exception error) => Events.Writer.TryComplete(error);
    }

    public static KubernetesApiException Gone() => new(HttpStatusCode.Gone, "too old resource version");
}
