using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>
/// The reconciler against the Kubernetes API emulator (our real CRD loaded) with its simulated kubelet: the real
/// resource clients and informers (as the operator wires them, reading jobs and pods from their trimmed caches),
/// the real InCluster backend, a FakeTimeProvider shared by the operator and the kubelet.
/// </summary>
public sealed class OperatorHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _informers;

    private OperatorHarness(KubeApiEmulator api, Kubernetes client, FakeTimeProvider time, InClusterOptions options)
    {
        Api = api;
        Client = client;
        Time = time;
        Jobs = new KubernetesResourceClient<TrainingJob>(client);
        Pods = new KubernetesResourceClient<V1Pod>(client);
        Services = new KubernetesResourceClient<V1Service>(client);
        Events = new KubernetesResourceClient<Corev1Event>(client);
        // Informer timing (idle watches, backoff) runs on the real clock: the fake one jumps by minutes between passes.
        JobInformer = new Informer<TrainingJob>(Jobs);
        PodInformer = new Informer<V1Pod>(((KubernetesResourceClient<V1Pod>)Pods).OmittingOnWatch(["spec"]), new InformerOptions
        {
            LabelSelector = TrainingJobLabels.JobName,
            Trim = pod => InClusterBackend.TrimCachedPod((V1Pod)pod),
        });
        PodInformer.Cache.AddIndex(CacheIndexes.ByControllerOwnerUid, CacheIndexes.ControllerOwnerUid);
        _informers = Task.WhenAll(JobInformer.RunAsync(_stop.Token), PodInformer.RunAsync(_stop.Token));
        Reconciler = new TrainingJobReconciler(
            new KubernetesTrainingJobStore(Jobs, JobInformer.Cache),
            [new InClusterBackend(Pods, Services, PodInformer.Cache, options)],
            new KubernetesEventSink(Events, time),
            time);
    }

    public Informer<TrainingJob> JobInformer { get; }

    public Informer<V1Pod> PodInformer { get; }

    public KubeApiEmulator Api { get; }

    public Kubernetes Client { get; }

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

    public static async Task<OperatorHarness> StartAsync(IPodRuntime? runtime = null, InClusterOptions? options = null)
    {
        var time = new FakeTimeProvider(Build.T0);
        var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { TimeProvider = time, CrdPaths = [CrdPath] });
        if (runtime is not null)
        {
            api.Kubelet.Runtime = runtime;
        }

        api.Kubelet.Start();
        var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        var harness = new OperatorHarness(api, client, time, options ?? new InClusterOptions());
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
