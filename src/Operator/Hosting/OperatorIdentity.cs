namespace Ferry.Operator.Hosting;

/// <summary>Who this replica is and which namespace it runs in, for the leader lease.</summary>
public static class OperatorIdentity
{
    private const string ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    /// <summary>The configured identity, else POD_NAME, else the host name with a random suffix.</summary>
    public static string Resolve(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        var pod = Environment.GetEnvironmentVariable("POD_NAME");
        return !string.IsNullOrWhiteSpace(pod) ? pod : $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..8]}";
    }

    /// <summary>The configured namespace, else POD_NAMESPACE, else the service account's namespace, else <c>default</c>.</summary>
    public static string ResolveNamespace(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        var pod = Environment.GetEnvironmentVariable("POD_NAMESPACE");
        if (!string.IsNullOrWhiteSpace(pod))
        {
            return pod;
        }

        return File.Exists(ServiceAccountNamespaceFile) ? File.ReadAllText(ServiceAccountNamespaceFile).Trim() : "default";
    }
}
