namespace Ferry.KubeEmulator.Resources;

/// <summary>The built-in kinds the emulator serves.</summary>
/// <remarks>API reference: https://kubernetes.io/docs/reference/kubernetes-api/</remarks>
internal static class BuiltInResources
{
    public static IEnumerable<(string Group, string Version, string Kind, string Plural, bool Namespaced, bool Status, string[] ShortNames, string[] Categories)> All()
    {
        yield return ("", "v1", "Pod", "pods", true, true, ["po"], ["all"]);
        yield return ("", "v1", "Service", "services", true, true, ["svc"], ["all"]);
        yield return ("", "v1", "Event", "events", true, false, ["ev"], []);
        yield return ("", "v1", "ConfigMap", "configmaps", true, false, ["cm"], []);
        yield return ("", "v1", "Secret", "secrets", true, false, [], []);
        yield return ("", "v1", "Namespace", "namespaces", false, true, ["ns"], []);
        yield return ("", "v1", "ServiceAccount", "serviceaccounts", true, false, ["sa"], []);
        yield return ("coordination.k8s.io", "v1", "Lease", "leases", true, false, [], []);
        yield return ("events.k8s.io", "v1", "Event", "events", true, false, ["ev"], []);
        yield return ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, true, ["crd", "crds"], ["api-extensions"]);
    }
}
