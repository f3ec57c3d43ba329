using System.Collections.Concurrent;
using System.Net;
using Ferry.KubeEmulator;
using Ferry.Operator.Hosting;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Runtime.Support;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Ferry.Operator.Tests.Runtime.Integration;

/// <summary>The whole <c>ferry operator</c> host against the API emulator, with a ConfigMap controller plugged in through <see cref="IControllerSetup"/>.</summary>
public sealed class OperatorHostTests : IAsyncLifetime
{
    private KubeApiEmulator _api = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _api = await KubeApiEmulator.StartAsync();
        _client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(_api.KubeconfigPath));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    private WebApplication BuildHost(ReconcileLog log, bool leaderElection = true) => OperatorHost.Build(
        new Dictionary<string, string?>
        {
            ["Operator:Kubeconfig"] = _api.KubeconfigPath,
            ["Operator:Port"] = "0",
            ["Operator:Namespaces:0"] = "default",
            ["Operator:LeaderElection:Enabled"] = leaderElection ? "true" : "false",
            ["Operator:LeaderElection:LeaseName"] = "ferry-host-test",
            ["Operator:LeaderElection:LeaseNamespace"] = "default",
            ["Operator:LeaderElection:Identity"] = "host-1",
            ["Operator:LeaderElection:LeaseDurationSeconds"] = "3",
            ["Operator:LeaderElection:RenewDeadlineSeconds"] = "2",
            ["Operator:LeaderElection:RetryPeriodSeconds"] = "1",
            ["Operator:ShutdownTimeoutSeconds"] = "5",
        },
        setups: [new ConfigMapControllerSetup()],
        configureServices: services => services.AddSingleton(log));

    private static async Task<(HttpStatusCode Status, string Body)> Get(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Host_syncs_leads_reconciles_serves_health_and_metrics_and_releases_the_lease_on_shutdown()
    {
        var configMaps = new KubernetesResourceClient<V1ConfigMap>(_client);
        await configMaps.CreateAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "existing", NamespaceProperty = "default" } });
        var log = new ReconcileLog();
        var app = BuildHost(log);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = OperatorHost.ListeningAddress(app) };

        Assert.Equal(HttpStatusCode.OK, (await Get(http, "/healthz")).Status);
        await Wait.UntilAsync(() => Get(http, "/readyz").Result.Status == HttpStatusCode.OK, "readyz ok once caches synced");
        await Wait.UntilAsync(() => log.Keys.Contains("default/existing"), "existing ConfigMap reconciled");

        await configMaps.CreateAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "new", NamespaceProperty = "default" } });
        await Wait.UntilAsync(() => log.Keys.Contains("default/new"), "new ConfigMap reconciled");

        var leases = new KubernetesResourceClient<V1Lease>(_client);
        Assert.Equal("host-1", (await leases.GetAsync("default", "ferry-host-test"))!.Spec.HolderIdentity);

        var (status, metrics) = await Get(http, "/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("ferry_reconciles_total", metrics);
        Assert.Contains("controller=\"configmap\"", metrics);
        Assert.Contains("ferry_leader", metrics);
        Assert.Contains("ferry_reconcile_duration_seconds", metrics);

        await app.StopAsync();
        await app.DisposeAsync();
        Assert.True(string.IsNullOrEmpty((await leases.GetAsync("default", "ferry-host-test"))!.Spec.HolderIdentity));
    }

    [Fact]
    public async Task Discovered_TrainingJob_controller_syncs_its_caches_against_the_real_crd()
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [CrdPath()] });
        var app = OperatorHost.Build(new Dictionary<string, string?>
        {
            ["Operator:Kubeconfig"] = api.KubeconfigPath,
            ["Operator:Port"] = "0",
            ["Operator:LeaderElection:Enabled"] = "false",
        });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = OperatorHost.ListeningAddress(app) };
            await Wait.UntilAsync(() => Get(http, "/readyz").Result.Status == HttpStatusCode.OK, "readyz ok with the discovered controllers");

            var host = app.Services.GetRequiredService<ControllerHostService>();
            var controller = Assert.Single(host.Controllers);
            Assert.Equal("trainingjob", controller.Name);
            Assert.Equal(["Pod", "Service", "TrainingJob"], controller.Informers.Select(i => i.Kind.Kind).Order());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static string CrdPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return Path.Combine(dir.FullName, "config", "crd");
            }
        }

        throw new DirectoryNotFoundException("Operator.sln not found above the test directory.");
    }

    [Fact]
    public void Invalid_settings_are_refused_with_every_problem_named()
    {
        var error = Assert.Throws<OperatorConfigurationException>(() => OperatorHost.Build(
            new Dictionary<string, string?>
            {
                ["Operator:MaxConcurrentReconciles"] = "0",
                ["Operator:LogFormat"] = "xml",
                ["Operator:Kubeconfig"] = "/does/not/exist",
            },
            setups: []));

        Assert.Equal(3, error.Errors.Count);
        Assert.Contains(error.Errors, e => e.Contains("--max-concurrent-reconciles", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Contains("'simple' or 'json'", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Contains("/does/not/exist", StringComparison.Ordinal));
    }

    [Fact]
    public void Controller_setups_are_discovered_in_an_assembly()
    {
        var found = OperatorHost.DiscoverSetups(typeof(OperatorHostTests).Assembly);
        Assert.Contains(found, s => s is ConfigMapControllerSetup);
    }

    /// <summary>Shared between the test and the reconciler resolved by the host.</summary>
    public sealed class ReconcileLog
    {
        public ConcurrentQueue<string> Keys { get; } = new();
    }

    public sealed class ConfigMapControllerSetup : IControllerSetup
    {
        public void Register(IServiceCollection services, IConfiguration configuration) =>
            services.AddController<V1ConfigMap, ConfigMapReconciler>();
    }

    public sealed class ConfigMapReconciler(ReconcileLog log, IInformerCache<V1ConfigMap> cache) : IReconciler<V1ConfigMap>
    {
        public Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
        {
            if (cache.TryGet(ns, name, out _))
            {
                log.Keys.Enqueue($"{ns}/{name}");
            }

            return Task.FromResult(ReconcileResult.Done);
        }
    }
}
