namespace Ferry.KubeEmulator.Authorization;

/// <summary>An authenticated user: name and groups, as the apiserver's authenticators produce them.</summary>
public sealed record UserInfo(string Name, IReadOnlyList<string> Groups)
{
    /// <summary>The administrator behind the default kubeconfig token (member of <c>system:masters</c>, allowed everything).</summary>
    public static UserInfo Admin { get; } = new("kubernetes-admin", ["system:masters", "system:authenticated"]);

    /// <summary>A request without credentials.</summary>
    public static UserInfo Anonymous { get; } = new("system:anonymous", ["system:unauthenticated"]);

    /// <summary>The user a ServiceAccount token authenticates as.</summary>
    /// <remarks>https://kubernetes.io/docs/reference/access-authn-authz/authentication/#service-account-tokens</remarks>
    public static UserInfo ServiceAccount(string ns, string name) =>
        new($"system:serviceaccount:{ns}:{name}", ["system:serviceaccounts", $"system:serviceaccounts:{ns}", "system:authenticated"]);
}
