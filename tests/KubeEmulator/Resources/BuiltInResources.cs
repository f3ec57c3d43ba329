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
        yield return ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, false, [], []);
        yield return ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, false, [], []);
        yield return ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, false, [], []);
        yield return ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, false, [], []);
        yield return ("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, false, [], []);

        // Stored, defaulted and validated; no controller acts on them (a Deployment creates no ReplicaSets or Pods).
        yield return ("apps", "v1", "Deployment", "deployments", true, true, ["deploy"], ["all"]);
        yield return ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, true, ["pdb"], []);
        yield return ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, false, ["netpol"], []);
    }

    /// <summary>The field selector labels a built-in kind accepts (the field label conversions of pkg/apis/core/v1/conversion.go
    /// and pkg/apis/events/v1/conversion.go), each mapped to the stored field it selects on.</summary>
    public static IReadOnlyDictionary<string, string> SelectableFields(string group, string plural) => (group, plural) switch
    {
        ("", "pods") => ApiResource.SelectableFieldsOf(["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]),
        ("", "events") => ApiResource.SelectableFieldsOf(["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"]),
        ("events.k8s.io", "events") => EventConversion.FieldLabels,
        ("", "namespaces") => ApiResource.SelectableFieldsOf(["status.phase"]),
        ("", "secrets") => ApiResource.SelectableFieldsOf(["type"]),
        ("", "services") => ApiResource.SelectableFieldsOf(["spec.clusterIP", "spec.type"]),
        _ => ApiResource.MetadataFields,
    };

    /// <summary>The group whose storage a built-in resource uses (events.k8s.io Events are stored as core Events).</summary>
    public static string StorageGroup(string group, string plural) => (group, plural) is ("events.k8s.io", "events") ? "" : group;
}
