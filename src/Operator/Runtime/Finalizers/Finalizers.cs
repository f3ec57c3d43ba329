using System.Text.Json;
using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Finalizers;

/// <summary>
/// Adds and removes finalizers with a JSON merge patch that carries the object's resourceVersion, so a concurrent
/// change makes the server answer 409 (surfaced as <see cref="KubernetesApiException.IsConflict"/>; the controller
/// requeues and the next reconcile works on a fresh read) instead of silently overwriting someone else's finalizer.
/// </summary>
public static class Finalizers
{
    /// <summary>Whether <paramref name="obj"/> carries <paramref name="finalizer"/>.</summary>
    public static bool Has(IKubernetesObject<V1ObjectMeta> obj, string finalizer) =>
        obj.Metadata?.Finalizers?.Contains(finalizer) == true;

    /// <summary>Adds <paramref name="finalizer"/> unless present; returns the object as stored afterwards.</summary>
    public static async Task<T> EnsureAsync<T>(IResourceClient<T> client, T obj, string finalizer, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (Has(obj, finalizer))
        {
            return obj;
        }

        var finalizers = (obj.Metadata?.Finalizers ?? []).Append(finalizer).ToList();
        return await client.PatchAsync(obj.Metadata?.NamespaceProperty, obj.Metadata!.Name, Patch(obj, finalizers), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Removes <paramref name="finalizer"/> if present; returns the object as stored afterwards.</summary>
    /// <remarks>Call it with a token that is not cancelled by shutdown: it is the commit of a finished finalize step.</remarks>
    public static async Task<T> RemoveAsync<T>(IResourceClient<T> client, T obj, string finalizer, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (!Has(obj, finalizer))
        {
            return obj;
        }

        var finalizers = obj.Metadata!.Finalizers.Where(f => f != finalizer).ToList();
        return await client.PatchAsync(obj.Metadata.NamespaceProperty, obj.Metadata.Name, Patch(obj, finalizers), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>The merge patch that sets the finalizer list, guarded by the object's resourceVersion.</summary>
    public static V1Patch Patch(IKubernetesObject<V1ObjectMeta> obj, IReadOnlyList<string> finalizers)
    {
        var resourceVersion = obj.Metadata?.ResourceVersion;
        if (string.IsNullOrEmpty(resourceVersion))
        {
            throw new ArgumentException("The object has no metadata.resourceVersion; pass the object as read from the API.", nameof(obj));
        }

        var body = JsonSerializer.Serialize(new
        {
            metadata = new { resourceVersion, finalizers },
        });
        return new V1Patch(body, V1Patch.PatchType.MergePatch);
    }
}
