using System.Reflection;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Resources;

/// <summary>Where a kind of Kubernetes object lives in the API: group, version, plural and scope.</summary>
/// <param name="Group">API group; empty for the core group (pods, services, events).</param>
/// <param name="Version">API version within the group, e.g. <c>v1</c>.</param>
/// <param name="Plural">Resource name used in URLs, e.g. <c>pods</c>.</param>
/// <param name="Kind">Object kind, e.g. <c>Pod</c>.</param>
/// <param name="Namespaced">Whether objects of this kind live in a namespace.</param>
public sealed record ResourceKind(string Group, string Version, string Plural, string Kind, bool Namespaced = true)
{
    /// <summary>The <c>apiVersion</c> written on objects of this kind.</summary>
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>Core v1 pods.</summary>
    public static ResourceKind Pods { get; } = new("", "v1", "pods", "Pod");

    /// <summary>Core v1 services.</summary>
    public static ResourceKind Services { get; } = new("", "v1", "services", "Service");

    /// <summary>Core v1 events.</summary>
    public static ResourceKind Events { get; } = new("", "v1", "events", "Event");

    /// <summary>coordination.k8s.io/v1 leases.</summary>
    public static ResourceKind Leases { get; } = new("coordination.k8s.io", "v1", "leases", "Lease");

    /// <summary>Reads the kind from the <see cref="KubernetesEntityAttribute"/> on <typeparamref name="T"/>.</summary>
    /// <remarks>Cluster-scoped built-in kinds (nodes, namespaces) are recognised by name; custom kinds are taken as namespaced.</remarks>
    public static ResourceKind For<T>() => For(typeof(T));

    /// <summary>Reads the kind from the <see cref="KubernetesEntityAttribute"/> on <paramref name="type"/>.</summary>
    public static ResourceKind For(Type type)
    {
        var entity = type.GetCustomAttribute<KubernetesEntityAttribute>()
            ?? throw new ArgumentException(
                $"{type.FullName} has no [KubernetesEntity] attribute; add one with Group, ApiVersion, Kind and PluralName.", nameof(type));
        if (string.IsNullOrEmpty(entity.PluralName) || string.IsNullOrEmpty(entity.ApiVersion) || string.IsNullOrEmpty(entity.Kind))
        {
            throw new ArgumentException(
                $"{type.FullName}'s [KubernetesEntity] must set ApiVersion, Kind and PluralName.", nameof(type));
        }

        return new ResourceKind(entity.Group ?? "", entity.ApiVersion, entity.PluralName, entity.Kind, !ClusterScopedKinds.Contains(entity.Kind));
    }

    private static readonly HashSet<string> ClusterScopedKinds =
    [
        "Node", "Namespace", "PersistentVolume", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
        "StorageClass", "PriorityClass",
    ];
}
