namespace Ferry.KubeEmulator;

/// <summary>Writes a kubeconfig that points kubectl and client libraries at the emulator (plain http, or https with the served certificate in the RBAC mode; a bearer token).</summary>
/// <remarks>https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/</remarks>
internal static class Kubeconfig
{
    public const string ContextName = "ferry-emulator";

    public static string Render(Uri server, string token = Authorization.TokenAuthenticator.AdminToken, string defaultNamespace = "default",
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: {ContextName}
          cluster:
            server: {server.GetLeftPart(UriPartial.Authority)}{(certificate is null ? "" : $"\n    certificate-authority-data: {Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(Authorization.ServingCertificate.Pem(certificate)))}")}
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
