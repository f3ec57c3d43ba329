using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Authorization;
using Ferry.KubeEmulator.Diagnostics;
using Ferry.KubeEmulator.Faults;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Hosting;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using Ferry.Operator.Tests.Helm;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>
/// The `ferry operator` host runs as the chart's ServiceAccount against the emulator in its RBAC mode (with the
/// OwnerReferencesPermissionEnforcement admission), the chart's rendered RBAC loaded: a job's whole life works with it
/// in both watch modes, and each permission the chart grants is needed (without it the API server refuses a request).
/// </summary>
public sealed class OperatorRbacTests
{
    private const string OperatorUser = $"system:serviceaccount:{ChartRbac.Namespace}:{ChartRbac.ServiceAccount}";

    [Fact]
    public async Task A_job_lives_its_whole_life_with_the_charts_cluster_wide_rbac()
    {
        var run = await RunLifeAsync(ChartRbac.Render(), namespaces: [], stopAtFirstRefusal: false);

        Assert.True(run.Completed, run.Describe());
        Assert.Empty(run.Forbidden);
        Assert.True(run.Requests.Any(e => e is { Verb: "patch", Resource: "events", StatusCode: 200 }), "No repeated Event was counted up: " + run.Describe());
    }

    [Fact]
    public async Task A_job_lives_its_whole_life_with_the_charts_per_namespace_rbac()
    {
        var rbac = ChartRbac.Render("--set", "watchNamespaces={default}");
        Assert.Empty(rbac.OfKind("ClusterRoleBinding"));

        var run = await RunLifeAsync(rbac, namespaces: ["default"], stopAtFirstRefusal: false);

        Assert.True(run.Completed, run.Describe());
        Assert.Empty(run.Forbidden);
        Assert.True(run.Requests.Any(e => e is { Verb: "patch", Resource: "events", StatusCode: 200 }), "No repeated Event was counted up: " + run.Describe());
    }

    [Fact]
    public async Task Every_permission_the_chart_grants_is_needed()
    {
        var rbac = ChartRbac.Render();
        using var slots = new SemaphoreSlim(3);
        var runs = await Task.WhenAll(rbac.Rules.Select(async rule =>
        {
            await slots.WaitAsync();
            try
            {
                return (Rule: rule, Run: await RunLifeAsync(rbac.Without(rule), namespaces: [], stopAtFirstRefusal: true));
            }
            finally
            {
                slots.Release();
            }
        }));

        Assert.NotEmpty(runs);
        var unneeded = runs.Where(r => !r.Run.Forbidden.Any(e => Refuses(e, r.Rule))).ToList();
        Assert.True(unneeded.Count == 0, "Nothing was refused without these permissions (remove them from the chart):\n"
            + string.Join("\n", unneeded.Select(r => $"{r.Rule}: {r.Run.Describe()}")));
    }

    /// <summary>Whether <paramref name="entry"/> is the refusal of <paramref name="rule"/>: RBAC's message, or the admission's for finalizers.</summary>
    private static bool Refuses(RequestLogEntry entry, RbacRule rule) =>
        entry.Authorization is { } why && (rule.Resource.EndsWith("/finalizers", StringComparison.Ordinal)
            ? why.Contains("can't set finalizers on", StringComparison.Ordinal)
            : why.Contains($"cannot {rule.Verb} resource \"{rule.Resource}\" in API group \"{rule.Group}\"", StringComparison.Ordinal));

    /// <summary>
    /// One job's life through the operator host as the chart's ServiceAccount, leader election on: created with the
    /// clean-up finalizer, `cleanPodPolicy: All` and `ttlSecondsAfterFinished: 0`, it runs, succeeds (status, Event,
    /// pods deleted), is deleted by its TTL, cleaned up (Service) and released. The status write that records its success
    /// fails once (a 500), so the retry repeats the Succeeded Event, which counts up the Event already recorded. Done when the job is gone and the
    /// leader renewed its Lease, or (<paramref name="stopAtFirstRefusal"/>) when a request was refused.
    /// </summary>
    private static async Task<LifeRun> RunLifeAsync(ChartRbac rbac, string[] namespaces, bool stopAtFirstRefusal)
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions
        {
            CrdPaths = [OperatorHarness.CrdPath],
            Authorization = AuthorizationMode.Rbac,
        });
        var rbacFile = rbac.WriteTo(Path.Combine(Path.GetTempPath(), $"ferry-rbac-{Guid.NewGuid():N}.yaml"));
        var kubeconfig = api.WriteServiceAccountKubeconfig(Path.Combine(Path.GetTempPath(), $"ferry-sa-{Guid.NewGuid():N}.kubeconfig"),
            ChartRbac.Namespace, ChartRbac.ServiceAccount);
        try
        {
            await api.ApplyManifestsAsync(rbacFile);
            api.Kubelet.Runtime = new SucceedsWithRefusedStatusWrite(api);
            api.Kubelet.Start();
            using var admin = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
            var jobs = new KubernetesResourceClient<TrainingJob>(admin);
            var settings = new Dictionary<string, string?>
            {
                ["Operator:Kubeconfig"] = kubeconfig,
                ["Operator:Port"] = "0",
                ["Operator:LeaderElection:Enabled"] = "true",
                ["Operator:LeaderElection:LeaseNamespace"] = ChartRbac.Namespace,
                ["Operator:LeaderElection:LeaseName"] = "ferry-operator",
                ["Operator:LeaderElection:LeaseDurationSeconds"] = "3",
                ["Operator:LeaderElection:RenewDeadlineSeconds"] = "2",
                ["Operator:LeaderElection:RetryPeriodSeconds"] = "1",
                ["Operator:ShutdownTimeoutSeconds"] = "5",
                ["InCluster:AgentImage"] = "registry.local/ferry:test",
            };
            for (var i = 0; i < namespaces.Length; i++)
            {
                settings[$"Operator:Namespaces:{i}"] = namespaces[i];
            }

            var app = OperatorHost.Build(settings, setups: [new TrainingJobControllerSetup()]);
            await app.StartAsync();
            var completed = false;
            try
            {
                var job = Job("rbac-life").WithReplicas(1).WithTtl(0).WithCleanPodPolicy(CleanPodPolicy.All)
                    .With(j => j.Metadata.Finalizers = [TrainingJobLabels.Finalizer]).Build();
                job.Metadata.NamespaceProperty = "default";
                job.Metadata.Uid = null;
                job.Metadata.ResourceVersion = null;
                job.Status = null;
                await jobs.CreateAsync(job);

                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (DateTime.UtcNow < deadline)
                {
                    var entries = OperatorRequests(api);
                    if (stopAtFirstRefusal && entries.Any(e => e.IsForbidden))
                    {
                        break;
                    }

                    if (await jobs.GetAsync("default", "rbac-life") is null
                        && entries.Any(e => e is { Verb: "update", Resource: "leases", StatusCode: 200 }))
                    {
                        completed = true;
                        break;
                    }

                    await Task.Delay(100);
                }
            }
            finally
            {
                await app.StopAsync();
                await app.DisposeAsync();
                await api.Kubelet.StopAsync();
            }

            var requests = OperatorRequests(api);
            return new LifeRun(completed, [.. requests.Where(e => e.IsForbidden)], requests);
        }
        finally
        {
            File.Delete(rbacFile);
            File.Delete(kubeconfig);
        }
    }

    /// <summary>
    /// The training container runs until the job's status says Running, then arms a one-time 500 on TrainingJob status
    /// writes and exits 0: the next status write, the one that records the success, is refused.
    /// </summary>
    private sealed class SucceedsWithRefusedStatusWrite(KubeApiEmulator api) : IPodRuntime
    {
        public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
        {
            if (isInit)
            {
                return new ContainerOutcome(0);
            }

            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((string?)api.GetObject(TrainingJob.GroupVersion, TrainingJob.KubeKind, "default", "rbac-life")?["status"]?["phase"] != "Running"
                && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20, cancellationToken);
            }

            api.Faults.Add(new FaultRule { Verb = "update", Resource = "trainingjobs", Subresource = "status", StatusCode = 500, Times = 1 });
            return new ContainerOutcome(0);
        }
    }

    private static List<RequestLogEntry> OperatorRequests(KubeApiEmulator api) => [.. api.RequestLog.Entries.Where(e => e.User == OperatorUser)];

    private sealed record LifeRun(bool Completed, IReadOnlyList<RequestLogEntry> Forbidden, IReadOnlyList<RequestLogEntry> Requests)
    {
        public string Describe() =>
            $"completed: {Completed}; refused: [{string.Join("; ", Forbidden.Select(e => $"{e.Verb} {e.Path}: {e.Authorization}"))}]; "
            + $"requests: [{string.Join(", ", Requests.Select(e => $"{e.Verb} {e.Resource}{(e.Subresource is null ? "" : "/" + e.Subresource)} {e.StatusCode}").Distinct())}]";
    }
}
