namespace Ferry.KubeEmulator;

/// <summary>Writes a kubeconfig that points kubectl and client libraries at the emulator (plain http; a placeholder token the emulator ignores).</summary>
/// <remarks>https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/</remarks>
internal static class Kubeconfig
{
    public const string ContextName = "ferry-emulator";

    public static string Render(Uri server, string defaultNamespace = "default") => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: {ContextName}
          cluster:
            server: {server.GetLeftPart(UriPartial.Authority)}
        users:
        - name: {ContextName}
          user:
            # The emulator does no authentication; clients (KubernetesClient) insist on some credential.
            token: ferry-emulator
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
