using System.Reflection;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Runtime.Telemetry;
using Ferry.Operator.Runtime.Timing;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Hosting;

/// <summary>Builds the <c>ferry operator</c> process: Kubernetes client, informers, controllers, leader election, health and metrics.</summary>
public static class OperatorHost
{
    /// <summary>Prefix of environment variables read as configuration (<c>FERRY_Operator__Qps=50</c>).</summary>
    public const string EnvironmentPrefix = "FERRY_";

    /// <summary>Environment variable naming a JSON configuration file (the Helm chart's ConfigMap), read after appsettings.json.</summary>
    public const string ConfigFileVariable = "FERRY_CONFIG_FILE";

    /// <summary>Builds the host.</summary>
    /// <param name="overrides">Configuration keys set on the command line (highest precedence).</param>
    /// <param name="setups">Controller setups; when null, every <see cref="IControllerSetup"/> in the operator assembly.</param>
    /// <param name="configureServices">Last-minute service changes (tests swap the clock).</param>
    public static WebApplication Build(
        IEnumerable<KeyValuePair<string, string?>>? overrides = null,
        IEnumerable<IControllerSetup>? setups = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = "ferry",
        });
        var configFile = Environment.GetEnvironmentVariable(ConfigFileVariable);
        if (!string.IsNullOrWhiteSpace(configFile))
        {
            if (!File.Exists(configFile))
            {
                throw new OperatorConfigurationException([$"{ConfigFileVariable} names '{configFile}', which does not exist; mount the file or unset the variable."]);
            }

            builder.Configuration.AddJsonFile(configFile, optional: false, reloadOnChange: false);
        }

        builder.Configuration.AddEnvironmentVariables(EnvironmentPrefix);
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        var options = new OperatorOptions();
        builder.Configuration.GetSection(OperatorOptions.Section).Bind(options);
        var errors = options.Validate().ToList();
        if (!string.IsNullOrWhiteSpace(options.Kubeconfig) && !File.Exists(options.Kubeconfig))
        {
            errors.Add($"Operator:Kubeconfig '{options.Kubeconfig}' does not exist; pass an existing file with --kubeconfig.");
        }

        if (errors.Count > 0)
        {
            throw new OperatorConfigurationException(errors);
        }

        ConfigureLogging(builder.Logging, options);
        builder.WebHost.ConfigureKestrel(k => k.ListenAnyIP(options.Port));
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds + 5));

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IKubernetes>(sp => CreateClient(options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(typeof(IResourceClient<>), typeof(KubernetesResourceClient<>));
        services.AddSingleton(sp => new InformerFactory(
            sp.GetRequiredService,
            new InformerOptions
            {
                Namespaces = options.Namespaces,
                WatchIdleTimeout = TimeSpan.FromSeconds(options.WatchIdleTimeoutSeconds),
            },
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetServices<InformerScope>()));
        services.AddSingleton(typeof(IInformerCache<>), typeof(SharedInformerCache<>));
        services.AddSingleton<ControllerHostService>();
        services.AddHostedService(sp => sp.GetRequiredService<ControllerHostService>());

        foreach (var setup in setups ?? DiscoverSetups(typeof(OperatorHost).Assembly))
        {
            setup.Register(services, builder.Configuration);
        }

        services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddFerryMetrics());
        configureServices?.Invoke(services);

        var app = builder.Build();
        MapEndpoints(app);
        return app;
    }

    /// <summary>The base address the host listens on once started (useful with port 0).</summary>
    public static Uri ListeningAddress(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The host is not listening yet; start it first.");
        return new Uri(address.Replace("[::]", "localhost").Replace("0.0.0.0", "localhost"));
    }

    /// <summary>Every <see cref="IControllerSetup"/> implementation in <paramref name="assembly"/>, instantiated.</summary>
    public static IReadOnlyList<IControllerSetup> DiscoverSetups(Assembly assembly) =>
        [.. assembly.GetTypes()
            .Where(t => typeof(IControllerSetup).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (IControllerSetup)(Activator.CreateInstance(t)
                ?? throw new InvalidOperationException($"{t.FullName} needs a public parameterless constructor to be discovered.")))];

    private static void MapEndpoints(WebApplication app)
    {
        // Liveness: the process answers. Readiness: caches are synced, whether or not this replica leads, so a
        // standby replica stays in the Service and a rollout does not wait for leadership.
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", (ControllerHostService host, InformerFactory informers) =>
        {
            if (host.IsReady)
            {
                return Results.Text("ok");
            }

            var waiting = informers.All.Where(i => !i.HasSynced).Select(i => i.Kind.Kind).ToList();
            return Results.Text(
                waiting.Count == 0 ? "starting" : "waiting for caches: " + string.Join(", ", waiting),
                statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapPrometheusScrapingEndpoint("/metrics");
    }

    private static void ConfigureLogging(ILoggingBuilder logging, OperatorOptions options)
    {
        logging.ClearProviders();
        if (options.LogFormat == "json")
        {
            logging.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
                o.IncludeScopes = true;
            });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
                o.UseUtcTimestamp = true;
            });
        }
    }

    private static Kubernetes CreateClient(OperatorOptions options, TimeProvider time)
    {
        KubernetesClientConfiguration config;
        if (!string.IsNullOrWhiteSpace(options.Kubeconfig))
        {
            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig, options.Context);
        }
        else if (KubernetesClientConfiguration.IsInCluster())
        {
            config = KubernetesClientConfiguration.InClusterConfig();
        }
        else
        {
            config = KubernetesClientConfiguration.BuildDefaultConfig();
        }

        return new Kubernetes(config, new ClientRateLimitHandler(new TokenBucket(options.Qps, options.Burst, time)), new KubernetesApiMetricsHandler());
    }
}

/// <summary>Settings the operator cannot start with; the message lists each one with its fix.</summary>
public sealed class OperatorConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid operator configuration:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
{
    /// <summary>One entry per invalid setting.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}
