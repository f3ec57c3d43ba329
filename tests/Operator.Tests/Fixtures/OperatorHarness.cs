using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Authorization;
using Ferry.KubeEmulator.Diagnostics;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Helm;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>
/// The reconciler against the Kubernetes API emulator (our real CRD loaded) with its simulated kubelet: the real
/// resource clients and informers (as the operator wires them, reading jobs and pods from their trimmed caches),
/// the real InCluster backend, a FakeTimeProvider shared by the operator and the kubelet. The emulator authorizes by
/// RBAC with the chart's rendered RBAC loaded: the operator's clients are its ServiceAccount, the test's own clients
/// (<see cref="Jobs"/>, <see cref="Pods"/>, ...) an administrator, and a request RBAC refuses fails the reconcile loop.
/// </summary>
public sealed class OperatorHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _informers;

    private OperatorHarness(KubeApiEmulator api, Kubernetes client, Kubernetes operatorClient, FakeTimeProvider time, InClusterOptions options)
    {
        Api = api;
        Client = client;
        OperatorClient = operatorClient;
        Time = time;
        Jobs = new KubernetesResourceClient<TrainingJob>(client);
        Pods = new KubernetesResourceClient<V1Pod>(client);
        Services = new KubernetesResourceClient<V1Service>(client);
        Events = new KubernetesResourceClient<Corev1Event>(client);
        var operatorJobs = new KubernetesResourceClient<TrainingJob>(operatorClient);
        var operatorPods = new KubernetesResourceClient<V1Pod>(operatorClient);
        // Informer timing (idle watches, backoff) runs on the real clock: the fake one jumps by minutes between passes.
        JobInformer = new Informer<TrainingJob>(operatorJobs);
        PodInformer = new Informer<V1Pod>(operatorPods.OmittingOnWatch(["spec"]), new InformerOptions
        {
            LabelSelector = TrainingJobLabels.JobName,
            Trim = pod => InClusterBackend.TrimCachedPod((V1Pod)pod),
        });
        PodInformer.Cache.AddIndex(CacheIndexes.ByControllerOwnerUid, CacheIndexes.ControllerOwnerUid);
        _informers = Task.WhenAll(JobInformer.RunAsync(_stop.Token), PodInformer.RunAsync(_stop.Token));
        Reconciler = new TrainingJobReconciler(
            new KubernetesTrainingJobStore(operatorJobs, JobInformer.Cache),
            [new InClusterBackend(operatorPods, new KubernetesResourceClient<V1Service>(operatorClient), PodInformer.Cache, options)],
            new KubernetesEventSink(new KubernetesResourceClient<Corev1Event>(operatorClient), time),
            time);
    }

    public Informer<TrainingJob> JobInformer { get; }

    public Informer<V1Pod> PodInformer { get; }

    public KubeApiEmulator Api { get; }

    /// <summary>The administrator's client (the test's own reads and writes).</summary>
    public Kubernetes Client { get; }

    /// <summary>The operator's client: its ServiceAccount, authorized by the RBAC loaded.</summary>
    public Kubernetes OperatorClient { get; }

    public FakeTimeProvider Time { get; }

    public IResourceClient<TrainingJob> Jobs { get; }

    public IResourceClient<V1Pod> Pods { get; }

    public IResourceClient<V1Service> Services { get; }

    public IResourceClient<Corev1Event> Events { get; }

    public TrainingJobReconciler Reconciler { get; }

    public const string Namespace = "default";

    /// <summary>The committed CRD (config/crd), found from the test binary's directory.</summary>
    public static string CrdPath
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Operator.sln")))
            {
                directory = directory.Parent;
            }

            return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("Operator.sln not found above the test binaries."),
                "config", "crd", "ferry.dev_trainingjobs.yaml");
        }
    }

    /// <summary>Starts the emulator with <paramref name="rbac"/> (default: the chart's) loaded and the operator as its ServiceAccount.</summary>
    public static async Task<OperatorHarness> StartAsync(IPodRuntime? runtime = null, InClusterOptions? options = null, ChartRbac? rbac = null)
    {
        var time = new FakeTimeProvider(Build.T0);
        var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions
        {
            TimeProvider = time,
            CrdPaths = [CrdPath],
            Authorization = AuthorizationMode.Rbac,
        });
        if (runtime is not null)
        {
            api.Kubelet.Runtime = runtime;
        }

        var rbacFile = Path.Combine(Path.GetTempPath(), $"ferry-rbac-{Guid.NewGuid():N}.yaml");
        try
        {
            await api.ApplyManifestsAsync((rbac ?? ChartRbac.Render()).WriteTo(rbacFile));
        }
        finally
        {
            File.Delete(rbacFile);
        }

        var operatorKubeconfig = api.WriteServiceAccountKubeconfig(Path.Combine(Path.GetTempPath(), $"ferry-sa-{Guid.NewGuid():N}.kubeconfig"),
            ChartRbac.Namespace, ChartRbac.ServiceAccount);
        var operatorConfig = KubernetesClientConfiguration.BuildConfigFromConfigFile(operatorKubeconfig);
        File.Delete(operatorKubeconfig);
        api.Kubelet.Start();
        var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        var harness = new OperatorHarness(api, client, new Kubernetes(operatorConfig), time, options ?? new InClusterOptions());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Task.WhenAll(harness.JobInformer.WaitForSyncAsync(timeout.Token), harness.PodInformer.WaitForSyncAsync(timeout.Token));
        return harness;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _informers;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        _stop.Dispose();
        await Api.Kubelet.StopAsync();
        Client.Dispose();
        OperatorClient.Dispose();
        await Api.DisposeAsync();
    }

    /// <summary>Creates the job and waits until the operator's cache has it (as the watch event would enqueue it).</summary>
    public async Task<TrainingJob> ApplyAsync(TrainingJob job)
    {
        job.Metadata.NamespaceProperty = Namespace;
        job.Metadata.Uid = null;
        job.Metadata.ResourceVersion = null;
        job.Metadata.Generation = null;
        job.Status = null;
        var created = await Jobs.CreateAsync(job);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!JobInformer.Cache.TryGet(Namespace, created.Metadata.Name, out _))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The TrainingJob informer did not see {created.Metadata.Name} within 30 s.");
            }

            await Task.Delay(10);
        }

        return created;
    }

    public Task<TrainingJob?> GetAsync(string name) => Jobs.GetAsync(Namespace, name);

    public async Task<IReadOnlyList<V1Pod>> PodsOfAsync(string job) =>
        (await Pods.ListAsync(Namespace, $"{TrainingJobLabels.JobName}={job}")).Items;

    public Task SetSuspendAsync(string job, bool suspend) =>
        Jobs.PatchAsync(Namespace, job, new V1Patch($"{{\"spec\":{{\"suspend\":{(suspend ? "true" : "false")}}}}}", V1Patch.PatchType.MergePatch));

    /// <summary>
    /// Reconciles until <paramref name="done"/> holds for the stored job (null once deleted), advancing the fake clock
    /// by <paramref name="step"/> between passes so scripted containers progress; fails after a generous real-time timeout.
    /// </summary>
    public async Task<TrainingJob?> ReconcileUntilAsync(string name, Func<TrainingJob?, IReadOnlyList<V1Pod>, bool> done, TimeSpan? step = null, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            try
            {
                await Reconciler.ReconcileAsync(Namespace, name, CancellationToken.None);
            }
            catch (KubernetesApiException e) when (e.IsConflict)
            {
                // The cache was behind the API (as the controller does, try again once the watch caught up).
            }

            AssertNothingForbidden();
            var job = await GetAsync(name);
            var pods = await PodsOfAsync(name);
            if (done(job, pods))
            {
                return job;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"TrainingJob {name} did not reach the expected state; phase {job?.Status?.Phase}, " +
                    $"pods [{string.Join(", ", pods.Select(p => $"{p.Metadata.Name}:{p.Metadata.Labels?[TrainingJobLabels.Attempt]}:{p.Status?.Phase}"))}], " +
                    $"conditions [{string.Join("; ", job?.Status?.Conditions?.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}") ?? [])}]");
            }

            if (step is { } advance)
            {
                Time.Advance(advance);
            }

            await Task.Delay(25);
        }
    }

    /// <summary>The requests RBAC refused so far (the operator's: the test's own client is an administrator).</summary>
    public IReadOnlyList<RequestLogEntry> Forbidden => [.. Api.RequestLog.Entries.Where(e => e.IsForbidden)];

    /// <summary>Fails with the refusals when RBAC refused any request (events are best effort, so a refusal shows only here).</summary>
    public void AssertNothingForbidden()
    {
        var forbidden = Forbidden;
        Assert.True(forbidden.Count == 0, "RBAC refused the operator's requests:\n" + string.Join("\n", forbidden.Select(e => $"{e.Verb} {e.Path}: {e.Authorization}")));
    }

    /// <summary>The reasons of the Events recorded about <paramref name="job"/>, oldest first.</summary>
    public async Task<IReadOnlyList<string>> EventReasonsAsync(string job) =>
        [.. (await Events.ListAsync(Namespace)).Items
            .Where(e => e.InvolvedObject?.Name == job)
            .OrderBy(e => e.Metadata.CreationTimestamp).ThenBy(e => e.Metadata.ResourceVersion, StringComparer.Ordinal)
            .Select(e => e.Reason)];
}

/// <summary>A pod runtime whose behaviour depends on the replica and the attempt (labels), on the fake clock.</summary>
public sealed class ReplicaScriptRuntime(TimeProvider time, Func<int, int, (TimeSpan? RunFor, ContainerOutcome Outcome)> train) : IPodRuntime
{
    public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
    {
        if (isInit)
        {
            return new ContainerOutcome(0);
        }

        var labels = pod["metadata"]?["labels"];
        var index = int.Parse((string?)labels?[TrainingJobLabels.ReplicaIndex] ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        var attempt = int.Parse((string?)labels?[TrainingJobLabels.Attempt] ?? "1", System.Globalization.CultureInfo.InvariantCulture);
        var (runFor, outcome) = train(index, attempt);
        await Task.Delay(runFor ?? Timeout.InfiniteTimeSpan, time, cancellationToken);
        return outcome;
    }
}
