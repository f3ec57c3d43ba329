namespace Ferry.KubeEmulator.Authorization;

/// <summary>How the emulator authorizes requests.</summary>
public enum AuthorizationMode
{
    /// <summary>Every request is allowed and tokens are not checked (the default).</summary>
    AlwaysAllow,

    /// <summary>Bearer tokens are authenticated and each request is authorized by RBAC, as the apiserver's RBAC authorizer does.</summary>
    Rbac,
}
