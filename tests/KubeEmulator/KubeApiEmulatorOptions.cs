namespace Ferry.KubeEmulator;

/// <summary>Settings for <see cref="KubeApiEmulator"/>.</summary>
public sealed class KubeApiEmulatorOptions
{
    /// <summary>Clock for timestamps, bookmarks, watch timeouts and the simulated kubelet (use FakeTimeProvider in tests).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>How many recent events are kept for watch resume; older resourceVersions get 410 Gone.</summary>
    public int EventHistory { get; init; } = 50_000;

    /// <summary>How often a watch with allowWatchBookmarks=true gets a BOOKMARK (on <see cref="TimeProvider"/>).</summary>
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Refuse namespaced writes into a namespace that does not exist (as the apiserver's NamespaceLifecycle admission does).</summary>
    public bool RequireNamespaces { get; init; } = true;

    /// <summary>Namespaces created at start.</summary>
    public IReadOnlyList<string> InitialNamespaces { get; init; } = ["default", "kube-system", "kube-public", "kube-node-lease"];

    /// <summary>CRD manifests (files or directories of *.yaml) loaded at start.</summary>
    public IReadOnlyList<string> CrdPaths { get; init; } = [];

    /// <summary>
    /// <see cref="AuthorizationMode.AlwaysAllow"/> (default) or <see cref="AuthorizationMode.Rbac"/>: bearer tokens are
    /// authenticated (the default kubeconfig's token is a <c>system:masters</c> administrator, others come from
    /// <see cref="KubeApiEmulator.IssueServiceAccountToken"/>) and every request is authorized by the stored RBAC objects.
    /// </summary>
    public Authorization.AuthorizationMode Authorization { get; init; } = Ferry.KubeEmulator.Authorization.AuthorizationMode.AlwaysAllow;

    /// <summary>
    /// In the RBAC mode, the OwnerReferencesPermissionEnforcement admission plugin (on by default here, as in OpenShift):
    /// <c>blockOwnerDeletion: true</c> needs <c>update</c> on the owner's <c>finalizers</c> subresource (checked on create
    /// and update, not on patch).
    /// </summary>
    public bool EnforceOwnerReferencePermissions { get; init; } = true;

    /// <summary>Fixed port (0: a free port is chosen).</summary>
    public int Port { get; init; }
}
