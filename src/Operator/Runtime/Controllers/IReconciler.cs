using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Controllers;

/// <summary>
/// Brings one object of kind <typeparamref name="T"/> to its desired state. Level-based: it reads the current
/// state (from the informer caches or the API) and never relies on having seen a particular event; a call on a
/// settled object writes nothing. An exception thrown counts as a transient error.
/// </summary>
public interface IReconciler<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>Reconciles the object <paramref name="ns"/>/<paramref name="name"/> (which may no longer exist).</summary>
    Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken);
}

/// <summary>The work-queue key of an object: namespace and name.</summary>
public readonly record struct ObjectKey(string Namespace, string Name)
{
    /// <summary>The key of <paramref name="obj"/>.</summary>
    public static ObjectKey Of(IKubernetesObject<V1ObjectMeta> obj) => new(obj.Metadata?.NamespaceProperty ?? "", obj.Metadata?.Name ?? "");

    /// <inheritdoc />
    public override string ToString() => Namespace.Length == 0 ? Name : $"{Namespace}/{Name}";
}
