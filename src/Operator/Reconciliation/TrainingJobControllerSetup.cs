using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Registers the TrainingJob controller with the `ferry operator` host: the reconciler over the Kubernetes API, the
/// InCluster backend configured from the <see cref="Section"/> configuration section (Helm values), the SageMaker
/// backend from the <see cref="SageMakerSection"/> section, Kubernetes Events,
/// and a watch on the pods the jobs own.
/// </summary>
public sealed class TrainingJobControllerSetup : IControllerSetup
{
    /// <summary>Configuration section of <see cref="InClusterOptions"/> (e.g. `FERRY_InCluster__AgentImage`).</summary>
    public const string Section = "InCluster";

    /// <summary>kubectl's copy of the last applied manifest: as large as the spec, and never read by the operator.</summary>
    private const string LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(ReadOptions(configuration));
        services.AddSingleton<ITrainingJobStore>(sp => new KubernetesTrainingJobStore(
            sp.GetRequiredService<IResourceClient<TrainingJob>>(),
            sp.GetRequiredService<IInformerCache<TrainingJob>>()));
        services.AddSingleton<ITrainingJobEventSink>(sp => new KubernetesEventSink(
            sp.GetRequiredService<IResourceClient<Corev1Event>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<KubernetesEventSink>>()));
        services.AddSingleton<ITrainingBackend>(sp => new InClusterBackend(
            sp.GetRequiredService<IResourceClient<V1Pod>>(),
            sp.GetRequiredService<IResourceClient<V1Service>>(),
            sp.GetRequiredService<IInformerCache<V1Pod>>(),
            sp.GetRequiredService<InClusterOptions>(),
            sp.GetRequiredService<IInformerCache<V1Service>>(),
            new LiveMetricsPoller(
                new HttpClient { Timeout = LiveMetricsPoller.Timeout },
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<InClusterOptions>(),
                sp.GetRequiredService<ILogger<LiveMetricsPoller>>())));
        var sageMaker = ReadSageMaker(configuration);
        services.AddSingleton(sageMaker);
        services.AddSingleton<ISageMakerClientFactory>(sp => new SageMakerClientFactory(new SageMakerClientOptions
        {
            // Jobs always name their region (their own, else the operator's); this one is only the factory's fallback.
            Region = sageMaker.Region.Length > 0 ? sageMaker.Region : "us-east-1",
            Endpoint = sageMaker.Endpoint,
            TimeProvider = sp.GetRequiredService<TimeProvider>(),
        }));
        services.AddSingleton(sp => new SageMakerCheckpoints(OperatorS3(configuration), sp.GetRequiredService<ILogger<SageMakerCheckpoints>>()));
        services.AddSingleton<ITrainingBackend>(sp => new SageMakerBackend(
            sp.GetRequiredService<ISageMakerClientFactory>(),
            sp.GetRequiredService<SageMakerBackendOptions>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SageMakerBackend>>(),
            checkpoints: sp.GetRequiredService<SageMakerCheckpoints>()));
        services.AddSingleton(ReadLifecycle(configuration));
        // Only Ferry's children are cached, and only what the reconciler reads of them (metadata, pod status).
        services.AddSingleton(InformerScope.For<V1Pod>(TrainingJobLabels.JobName, InClusterBackend.TrimCachedPod, omitOnWatch: ["spec"]));
        services.AddSingleton(InformerScope.For<V1Service>(TrainingJobLabels.JobName, TrimCachedService));
        services.AddSingleton(InformerScope.For<TrainingJob>(trim: job => job.Metadata.Annotations?.Remove(LastAppliedAnnotation)));
        services.AddController<TrainingJob, TrainingJobReconciler>(controller =>
        {
            controller.Name = "trainingjob";
            controller.Owns<V1Pod>();
            controller.Owns<V1Service>();
        });
    }

    /// <summary>Configuration section of <see cref="LifecycleSettings"/> (Helm: `lifecycle.*`).</summary>
    public const string LifecycleSection = "Lifecycle";

    /// <summary>
    /// <see cref="LifecycleSettings"/> from the `Lifecycle` section: `StartupTimeoutSeconds`, `RestartBackoffSeconds`,
    /// `MaxRestartBackoffSeconds`, `MaxDisruptions`, `FailureSettleSeconds`; unset values keep <see cref="LifecycleSettings.Default"/>.
    /// </summary>
    public static LifecycleSettings ReadLifecycle(IConfiguration configuration)
    {
        var section = configuration.GetSection(LifecycleSection);
        var defaults = LifecycleSettings.Default;
        TimeSpan Seconds(string key, TimeSpan fallback) =>
            double.TryParse(section[key], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s) && s >= 0
                ? TimeSpan.FromSeconds(s)
                : fallback;
        return new LifecycleSettings(
            Seconds("StartupTimeoutSeconds", defaults.StartupTimeout),
            Seconds("RestartBackoffSeconds", defaults.RestartBackoff),
            Seconds("MaxRestartBackoffSeconds", defaults.MaxRestartBackoff),
            int.TryParse(section["MaxDisruptions"], System.Globalization.CultureInfo.InvariantCulture, out var d) && d >= 0 ? d : defaults.MaxDisruptions)
        {
            FailureSettle = Seconds("FailureSettleSeconds", defaults.FailureSettle),
        };
    }

    /// <summary>
    /// How the operator itself reaches S3 (listing SageMaker jobs' checkpoints): the `S3` section's `Endpoint` and
    /// `ForcePathStyle` (Helm `s3.*`) over the environment's settings and the AWS SDK's credential chain.
    /// </summary>
    public static Storage.S3Settings OperatorS3(IConfiguration configuration)
    {
        var settings = Storage.S3Settings.FromEnvironment();
        if (configuration["S3:Endpoint"] is { Length: > 0 } endpoint)
        {
            var pathStyle = !bool.TryParse(configuration["S3:ForcePathStyle"], out var flag) || flag;
            settings = settings with { ServiceUrl = endpoint, ForcePathStyle = pathStyle };
        }

        return settings;
    }

    /// <summary>Configuration section of <see cref="SageMakerBackendOptions"/> (Helm: `sageMaker.*`).</summary>
    public const string SageMakerSection = "SageMaker";

    /// <summary>
    /// <see cref="SageMakerBackendOptions"/> from the `SageMaker` section: `Region`, `Endpoint`, `AllowedRoles`
    /// (namespace → role ARN globs; `*` for every other namespace) and `Polling` (`StartingPollSeconds`,
    /// `ChangeFeedSeconds`, `RecheckSeconds`, `HeartbeatSeconds`, `PollWithoutFeedSeconds`, `StoppingPollSeconds`, `LogsSeconds`, `Jitter`).
    /// </summary>
    public static SageMakerBackendOptions ReadSageMaker(IConfiguration configuration)
    {
        var section = configuration.GetSection(SageMakerSection);
        var roles = section.GetSection("AllowedRoles").GetChildren().ToDictionary(
            ns => ns.Key,
            ns => (IReadOnlyList<string>)[.. ns.GetChildren().Select(r => r.Value).OfType<string>(), .. ns.Value is { Length: > 0 } one ? [one] : Array.Empty<string>()],
            StringComparer.Ordinal);
        var polling = section.GetSection("Polling");
        var defaults = new SageMakerPolling();
        TimeSpan Seconds(string key, TimeSpan fallback) =>
            double.TryParse(polling[key], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0
                ? TimeSpan.FromSeconds(s)
                : fallback;
        var endpoint = section["Endpoint"];
        if (endpoint is { Length: > 0 } && !Uri.TryCreate(endpoint, UriKind.Absolute, out _))
        {
            throw new Hosting.OperatorConfigurationException([$"SageMaker:Endpoint '{endpoint}' is not an absolute URL; set the Helm value sageMaker.endpoint to e.g. https://vpce-0123-abcd.api.sagemaker.eu-west-1.vpce.amazonaws.com or leave it empty."]);
        }

        return new SageMakerBackendOptions
        {
            Region = section["Region"] ?? "",
            Endpoint = endpoint is { Length: > 0 } ? new Uri(endpoint) : null,
            AllowedRoles = roles,
            Polling = new SageMakerPolling
            {
                StartingPoll = Seconds("StartingPollSeconds", defaults.StartingPoll),
                ChangeFeedInterval = Seconds("ChangeFeedSeconds", defaults.ChangeFeedInterval),
                RecheckInterval = Seconds("RecheckSeconds", defaults.RecheckInterval),
                Heartbeat = Seconds("HeartbeatSeconds", defaults.Heartbeat),
                PollWithoutFeed = Seconds("PollWithoutFeedSeconds", defaults.PollWithoutFeed),
                StoppingPoll = Seconds("StoppingPollSeconds", defaults.StoppingPoll),
                LogsInterval = Seconds("LogsSeconds", defaults.LogsInterval),
                Jitter = double.TryParse(polling["Jitter"], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var j) && j is >= 0 and < 1
                    ? j
                    : defaults.Jitter,
            },
        };
    }

    /// <summary>The Service cache keeps only metadata: the backend only asks whether a job's Service exists.</summary>
    private static void TrimCachedService(V1Service service)
    {
        service.Spec = null;
        service.Status = null;
        service.Metadata.Annotations = null;
        service.Metadata.ManagedFields = null;
    }

    /// <summary>
    /// <see cref="InClusterOptions"/> from the `InCluster` section (Helm: `inCluster.*`); tolerations are read by their
    /// Kubernetes field names (`operator`, not the client's `OperatorProperty`), and the `S3` section's endpoint is
    /// passed on to the agent containers as `FERRY_S3_ENDPOINT` / `FERRY_S3_FORCE_PATH_STYLE`.
    /// </summary>
    public static InClusterOptions ReadOptions(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var options = section.Get<InClusterOptions>() ?? new InClusterOptions();
        var tolerations = section.GetSection(nameof(InClusterOptions.SpotTolerations)).GetChildren()
            .Select(t => new V1Toleration
            {
                Key = t["key"],
                OperatorProperty = t["operator"],
                Value = t["value"],
                Effect = t["effect"],
                TolerationSeconds = long.TryParse(t["tolerationSeconds"], System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : null,
            })
            .ToList();
        var environment = new Dictionary<string, string>(options.AgentEnvironment, StringComparer.Ordinal);
        if (configuration["S3:Endpoint"] is { Length: > 0 } endpoint)
        {
            environment[Storage.S3Settings.EndpointVariable] = endpoint;
            environment[Storage.S3Settings.ForcePathStyleVariable] = configuration["S3:ForcePathStyle"] is { Length: > 0 } pathStyle ? pathStyle.ToLowerInvariant() : "true";
        }

        return options with { SpotTolerations = tolerations.Count > 0 ? tolerations : options.SpotTolerations, AgentEnvironment = environment };
    }
}
