using k8s;
using k8s.Models;

namespace Ferry.Operator.Tests.Runtime.Support;

/// <summary>A stand-in custom resource shaped like a TrainingJob, so runtime tests need nothing from the API types.</summary>
[KubernetesEntity(Group = "ferry.dev", ApiVersion = "v1alpha1", Kind = "TrainingJob", PluralName = "trainingjobs")]
public sealed class TestJob : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "ferry.dev/v1alpha1";

    public string Kind { get; set; } = "TrainingJob";

    public V1ObjectMeta Metadata { get; set; } = new();

    public Dictionary<string, object>? Spec { get; set; }

    public static TestJob Named(string name, string resourceVersion, string ns = "default") =>
        new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, ResourceVersion = resourceVersion, Uid = $"uid-{name}" } };
}
