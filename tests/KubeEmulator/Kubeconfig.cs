namespace Ferry.KubeEmulator;

/// <summary>Writes a kubeconfig that points kubectl and client libraries at the emulator (plain http, a bearer token).</summary>
/// <remarks>https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/</remarks>
internal static class Kubeconfig
{
    public const string ContextName = "ferry-emulator";

    public static string Render(Uri server, string token = Authorization.TokenAuthenticator.AdminToken, string defaultNamespace = "default") => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: {ContextName}
          cluster:
            server: {server.GetLeftPart(UriPartial.Authority)}
        users:
        - name: {ContextName}
          user:
            # The administrator's token, or one issued for a ServiceAccount (checked only in the RBAC mode).
            token: {token}
        contexts:
        - name: {ContextName}
          context:
            cluster: {ContextName}
            user: {ContextName}
            namespace: {defaultNamespace}
        current-context: {ContextName}
        preferences: {"{}"}

        """;
}
