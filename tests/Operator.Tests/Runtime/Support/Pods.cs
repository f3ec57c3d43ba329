using k8s.Models;

namespace Ferry.Operator.Tests.Runtime.Support;

/// <summary>Small pod fixtures.</summary>
public static class Pods
{
    public static V1Pod Pod(string name, string resourceVersion, string ns = "default", IDictionary<string, string>? labels = null,
        V1OwnerReference? owner = null) => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = ns,
            ResourceVersion = resourceVersion,
            Uid = $"uid-{ns}-{name}",
            Labels = labels,
            OwnerReferences = owner is null ? null : [owner],
        },
    };

    public static V1Pod Bookmark(string resourceVersion) => new() { Metadata = new V1ObjectMeta { ResourceVersion = resourceVersion } };
}
