using System.CommandLine;
using System.Globalization;
using Ferry.Operator.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace Ferry.Operator.Cli;

/// <summary>The <c>operator</c> command: runs the controllers against a cluster with health and metrics endpoints.</summary>
internal static class OperatorCommand
{
    public static Command Create()
    {
        var namespaces = new Option<string[]>("--namespace", "-n")
        {
            Description = "Namespace to watch (repeat or comma-separate); all namespaces when omitted.",
            AllowMultipleArgumentsPerToken = true,
        };
        var maxConcurrent = new Option<int>("--max-concurrent-reconciles") { Description = "Reconciles run at once per controller." };
        var qps = new Option<double>("--qps") { Description = "Client-side API requests per second." };
        var burst = new Option<int>("--burst") { Description = "Client-side API request burst." };
        var leaderElect = new Option<bool>("--leader-elect") { Description = "Elect a leader with a Lease (true/false)." };
        var leaseName = new Option<string>("--lease-name") { Description = "Name of the leader-election Lease." };
        var leaseNamespace = new Option<string>("--lease-namespace") { Description = "Namespace of the leader-election Lease." };
        var port = new Option<int>("--port") { Description = "Port of /healthz, /readyz and /metrics." };
        var kubeconfig = new Option<string>("--kubeconfig") { Description = "kubeconfig file; in-cluster or the default kubeconfig when omitted." };
        var context = new Option<string>("--context") { Description = "kubeconfig context." };
        var logFormat = new Option<string>("--log-format") { Description = "simple or json." };
        logFormat.AcceptOnlyFromAmong("simple", "json");

        var command = new Command("operator", "Run the Ferry operator: reconcile TrainingJobs in the cluster (health on /healthz, /readyz; metrics on /metrics).");
        foreach (var option in new Option[] { namespaces, maxConcurrent, qps, burst, leaderElect, leaseName, leaseNamespace, port, kubeconfig, context, logFormat })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string?>();
            void Set<T>(Option<T> option, string key)
            {
                if (parseResult.GetResult(option) is { Implicit: false })
                {
                    overrides[$"{OperatorOptions.Section}:{key}"] = Convert.ToString(parseResult.GetValue(option), CultureInfo.InvariantCulture);
                }
            }

            if (parseResult.GetResult(namespaces) is { Implicit: false })
            {
                var names = (parseResult.GetValue(namespaces) ?? [])
                    .SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    .ToList();
                for (var i = 0; i < names.Count; i++)
                {
                    overrides[$"{OperatorOptions.Section}:Namespaces:{i}"] = names[i];
                }
            }

            Set(maxConcurrent, nameof(OperatorOptions.MaxConcurrentReconciles));
            Set(qps, nameof(OperatorOptions.Qps));
            Set(burst, nameof(OperatorOptions.Burst));
            Set(leaderElect, "LeaderElection:Enabled");
            Set(leaseName, "LeaderElection:LeaseName");
            Set(leaseNamespace, "LeaderElection:LeaseNamespace");
            Set(port, nameof(OperatorOptions.Port));
            Set(kubeconfig, nameof(OperatorOptions.Kubeconfig));
            Set(context, nameof(OperatorOptions.Context));
            Set(logFormat, nameof(OperatorOptions.LogFormat));

            WebApplication app;
            try
            {
                app = OperatorHost.Build(overrides);
            }
            catch (OperatorConfigurationException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 2;
            }

            await using (app)
            {
                try
                {
                    await app.StartAsync(cancellationToken);
                }
                catch (OperatorConfigurationException e)
                {
                    await Console.Error.WriteLineAsync(e.Message);
                    return 2;
                }

                await app.WaitForShutdownAsync(cancellationToken);
            }

            return 0;
        });
        return command;
    }
}
