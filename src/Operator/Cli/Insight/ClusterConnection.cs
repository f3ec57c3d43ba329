using k8s;

namespace Ferry.Operator.Cli.Insight;

/// <summary>
/// How the CLI's cluster commands (`ferry experiments`, `ferry logs`) reach the API server: as kubectl does, with the
/// user's kubeconfig (`--kubeconfig`, else KUBECONFIG, else ~/.kube/config), its context (`--context`) and namespace
/// (`-n`, else the context's, else default). The user's own permissions apply, not the operator's.
/// </summary>
public sealed record ClusterConnection(string? Kubeconfig, string? Context, string? Namespace)
{
    /// <summary>A client for the chosen context and the namespace to work in.</summary>
    public (Kubernetes Client, string Namespace) Open()
    {
        KubernetesClientConfiguration config;
        try
        {
            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(Kubeconfig, Context);
        }
        catch (Exception e) when (e is k8s.Exceptions.KubeConfigException or FileNotFoundException or IOException)
        {
            throw new CliException($"cannot read the kubeconfig{(Kubeconfig is null ? "" : $" '{Kubeconfig}'")}: {e.Message}. Pass --kubeconfig FILE (and --context NAME), or set KUBECONFIG.");
        }

        return (new Kubernetes(config), Namespace is { Length: > 0 } ns ? ns : config.Namespace is { Length: > 0 } contextNs ? contextNs : "default");
    }
}

/// <summary>A CLI error a user can fix; the message says how. The command prints it and exits 1.</summary>
public sealed class CliException(string message) : Exception(message);
