using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Resources;

/// <summary>Typed access to one kind of Kubernetes object: list, watch, get and writes.</summary>
/// <remarks>
/// Errors from the API server surface as <see cref="KubernetesApiException"/>; a missing object on
/// <see cref="GetAsync"/> or <see cref="DeleteAsync"/> is not an error.
/// </remarks>
public interface IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>The kind this client serves.</summary>
    ResourceKind Kind { get; }

    /// <summary>Lists objects (all namespaces when <paramref name="ns"/> is null) with the list's resourceVersion.</summary>
    Task<ResourceList<T>> ListAsync(string? ns, string? labelSelector = null, CancellationToken cancellationToken = default);

    /// <summary>Watches changes after <paramref name="resourceVersion"/>, with bookmarks; ends when the server closes the stream.</summary>
    IAsyncEnumerable<WatchEvent<T>> WatchAsync(string? ns, string resourceVersion, string? labelSelector = null, CancellationToken cancellationToken = default);

    /// <summary>Reads one object; null when it does not exist.</summary>
    Task<T?> GetAsync(string? ns, string name, CancellationToken cancellationToken = default);

    /// <summary>Creates an object in its <c>metadata.namespace</c>.</summary>
    Task<T> CreateAsync(T obj, CancellationToken cancellationToken = default);

    /// <summary>Patches an object (JSON merge, JSON or strategic merge patch as the <see cref="V1Patch"/> says).</summary>
    Task<T> PatchAsync(string? ns, string name, V1Patch patch, CancellationToken cancellationToken = default);

    /// <summary>Replaces the <c>status</c> subresource; guarded by <c>metadata.resourceVersion</c>.</summary>
    Task<T> ReplaceStatusAsync(T obj, CancellationToken cancellationToken = default);

    /// <summary>Deletes an object; false when it was already gone.</summary>
    Task<bool> DeleteAsync(string? ns, string name, V1DeleteOptions? options = null, CancellationToken cancellationToken = default);
}

/// <summary>One page of a list with the resourceVersion a watch resumes from.</summary>
public sealed record ResourceList<T>(IReadOnlyList<T> Items, string ResourceVersion);

/// <summary>One event of a watch stream.</summary>
/// <param name="Type">ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.</param>
/// <param name="Object">The object (for BOOKMARK only its <c>metadata.resourceVersion</c> is meaningful); null for ERROR.</param>
/// <param name="Status">The status carried by an ERROR event (e.g. code 410 when the resourceVersion is too old).</param>
public sealed record WatchEvent<T>(WatchEventType Type, T? Object, V1Status? Status = null);
