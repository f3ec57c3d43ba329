namespace Ferry.Operator.Hosting;

/// <summary>
/// Settings of the <c>ferry operator</c> host, bound from the <c>Operator</c> section of appsettings.json, the JSON
/// file named by <c>FERRY_CONFIG_FILE</c> (the Helm chart's ConfigMap), environment variables with the <c>FERRY_</c>
/// prefix (e.g. <c>FERRY_Operator__MaxConcurrentReconciles=8</c>) and command-line flags, in increasing precedence.
/// </summary>
public sealed class OperatorOptions
{
    /// <summary>Configuration section the options are bound from.</summary>
    public const string Section = "Operator";

    /// <summary>Namespaces whose objects the operator watches; empty watches every namespace.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>Reconciles that may run at once per controller (never two for the same object).</summary>
    public int MaxConcurrentReconciles { get; set; } = 4;

    /// <summary>Client-side limit of API requests per second (token bucket refill rate).</summary>
    public double Qps { get; set; } = 20;

    /// <summary>Client-side burst of API requests (token bucket size).</summary>
    public int Burst { get; set; } = 30;

    /// <summary>Port of the HTTP endpoints <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>; 0 picks a free port.</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Path of a kubeconfig file; when empty the in-cluster service account is used if present, else the default kubeconfig.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>kubeconfig context to use; the current context when empty.</summary>
    public string? Context { get; set; }

    /// <summary>Log format: <c>simple</c> (one line per entry) or <c>json</c>.</summary>
    public string LogFormat { get; set; } = "simple";

    /// <summary>A watch silent for this many seconds (no event, no bookmark) is restarted.</summary>
    public int WatchIdleTimeoutSeconds { get; set; } = 300;

    /// <summary>Seconds the host waits on shutdown for in-flight reconciles before giving up.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 30;

    /// <summary>Leader election settings.</summary>
    public LeaderElectionSettings LeaderElection { get; set; } = new();

    /// <summary>Checks the settings; every message names the setting and the fix.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxConcurrentReconciles < 1)
        {
            errors.Add($"Operator:MaxConcurrentReconciles is {MaxConcurrentReconciles}; set it to 1 or more (--max-concurrent-reconciles).");
        }

        if (Qps <= 0)
        {
            errors.Add($"Operator:Qps is {Qps}; set it above 0 (--qps).");
        }

        if (Burst < 1)
        {
            errors.Add($"Operator:Burst is {Burst}; set it to 1 or more (--burst).");
        }

        if (Port is < 0 or > 65535)
        {
            errors.Add($"Operator:Port is {Port}; use 0-65535 (--port).");
        }

        if (LogFormat is not ("simple" or "json"))
        {
            errors.Add($"Operator:LogFormat is '{LogFormat}'; use 'simple' or 'json' (--log-format).");
        }

        if (WatchIdleTimeoutSeconds < 1)
        {
            errors.Add($"Operator:WatchIdleTimeoutSeconds is {WatchIdleTimeoutSeconds}; set it to 1 or more.");
        }

        if (Namespaces.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add("Operator:Namespaces contains an empty name; remove it (--namespace).");
        }

        var le = LeaderElection;
        if (le.Enabled && !(le.LeaseDurationSeconds > le.RenewDeadlineSeconds && le.RenewDeadlineSeconds > le.RetryPeriodSeconds && le.RetryPeriodSeconds > 0))
        {
            errors.Add($"Operator:LeaderElection needs LeaseDurationSeconds ({le.LeaseDurationSeconds}) > RenewDeadlineSeconds ({le.RenewDeadlineSeconds}) > RetryPeriodSeconds ({le.RetryPeriodSeconds}) > 0.");
        }

        if (le.Enabled && string.IsNullOrWhiteSpace(le.LeaseName))
        {
            errors.Add("Operator:LeaderElection:LeaseName is empty; set a lease name (--lease-name).");
        }

        return errors;
    }
}

/// <summary>Leader election with a coordination.k8s.io/v1 Lease.</summary>
public sealed class LeaderElectionSettings
{
    /// <summary>Whether replicas elect a leader; only the leader reconciles. Off runs reconcilers at once (single replica).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Name of the Lease object.</summary>
    public string LeaseName { get; set; } = "ferry-operator";

    /// <summary>Namespace of the Lease; the pod's namespace (POD_NAMESPACE or the service account's) when empty, else <c>default</c>.</summary>
    public string? LeaseNamespace { get; set; }

    /// <summary>This replica's identity in the Lease; POD_NAME or the host name plus a random suffix when empty.</summary>
    public string? Identity { get; set; }

    /// <summary>Seconds others wait after the last renewal before taking over.</summary>
    public int LeaseDurationSeconds { get; set; } = 15;

    /// <summary>Seconds the leader keeps trying to renew before it stops reconciling.</summary>
    public int RenewDeadlineSeconds { get; set; } = 10;

    /// <summary>Seconds between acquire/renew attempts.</summary>
    public int RetryPeriodSeconds { get; set; } = 2;
}
