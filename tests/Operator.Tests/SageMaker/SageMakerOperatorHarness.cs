using System.Diagnostics;
using Amazon.Runtime;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.SageMaker;
using Ferry.Operator.Tests.Fixtures;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Jobs;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Operator.Tests.SageMaker;

/// <summary>
/// The reconciler with the real SageMaker backend, between the Kubernetes API emulator (our CRD loaded) and the
/// SageMaker emulator (requests validated against botocore's model, SigV4 checked), both on one FakeTimeProvider that
/// the passes advance. The client's retry delays run on the real clock (milliseconds), so injected faults are retried
/// as in production without the fake clock having to move.
/// </summary>
public sealed class SageMakerOperatorHarness : IAsyncDisposable
{
    public const string Namespace = "default";
    public const string Region = "eu-west-1";
    public const string Role = "arn:aws:iam::123456789012:role/ferry-sagemaker-training";

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _informers;
    private readonly SageMakerClientFactory _clients;

    private readonly SageMakerCheckpoints? _checkpoints;

    private SageMakerOperatorHarness(KubeApiEmulator api, SageMakerApiEmulator sageMaker, FakeTimeProvider time, SageMakerBackendOptions options, SageMakerCheckpoints? checkpoints)
    {
        _checkpoints = checkpoints;
        Api = api;
        SageMaker = sageMaker;
        Time = time;
        Options = options;
        Client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(api.KubeconfigPath));
        Jobs = new KubernetesResourceClient<TrainingJob>(Client);
        Events = new KubernetesResourceClient<Corev1Event>(Client);
        JobInformer = new Informer<TrainingJob>(Jobs);
        _informers = JobInformer.RunAsync(_stop.Token);
        _clients = new SageMakerClientFactory(new SageMakerClientOptions
        {
            Region = Region,
            Endpoint = sageMaker.BaseAddress,
            Credentials = new BasicAWSCredentials(SageMakerApiEmulator.TestCredentials.AccessKeyId, SageMakerApiEmulator.TestCredentials.SecretAccessKey),
            BaseDelay = TimeSpan.FromMilliseconds(2),
            MaxDelay = TimeSpan.FromMilliseconds(50),
            MaxAttempts = 8,
        });
        Restart();
    }

    public KubeApiEmulator Api { get; }

    public SageMakerApiEmulator SageMaker { get; }

    public FakeTimeProvider Time { get; }

    public SageMakerBackendOptions Options { get; }

    public Kubernetes Client { get; }

    public IResourceClient<TrainingJob> Jobs { get; }

    public IResourceClient<Corev1Event> Events { get; }

    public Informer<TrainingJob> JobInformer { get; }

    public SageMakerBackend Backend { get; private set; } = null!;

    public TrainingJobReconciler Reconciler { get; private set; } = null!;

    /// <summary>The script of every job: 60 s starting, 30 s downloading, 10 minutes training, 20 s uploading, two final metrics.</summary>
    public static JobScript Script { get; } = new()
    {
        Starting = TimeSpan.FromSeconds(60),
        Downloading = TimeSpan.FromSeconds(30),
        Training = TimeSpan.FromMinutes(10),
        Uploading = TimeSpan.FromSeconds(20),
        Stopping = TimeSpan.FromSeconds(30),
        FinalMetrics = new Dictionary<string, double> { ["train_loss"] = 0.25, ["val_accuracy"] = 0.9 },
    };

    public static async Task<SageMakerOperatorHarness> StartAsync(SageMakerBackendOptions? options = null, SageMakerCheckpoints? checkpoints = null)
    {
        var time = new FakeTimeProvider(Build.T0);
        var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { TimeProvider = time, CrdPaths = [OperatorHarness.CrdPath] });
        var sageMaker = await SageMakerApiEmulator.StartAsync(new SageMakerApiEmulatorOptions { TimeProvider = time, Region = Region });
        // The client signs with the real clock; the jobs live on the fake one.
        sageMaker.Signatures.CheckClockSkew = false;
        sageMaker.LogsSignatures.CheckClockSkew = false;
        sageMaker.Scripts.Default = Script;
        var harness = new SageMakerOperatorHarness(api, sageMaker, time, options ?? new SageMakerBackendOptions
        {
            Region = Region,
            AllowedRoles = new Dictionary<string, IReadOnlyList<string>> { [Namespace] = ["arn:aws:iam::123456789012:role/ferry-*"] },
        }, checkpoints);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await harness.JobInformer.WaitForSyncAsync(timeout.Token);
        return harness;
    }

    /// <summary>A new backend and reconciler, as after an operator restart: nothing remembered but what SageMaker and the API hold.</summary>
    public void Restart()
    {
        Backend = new SageMakerBackend(_clients, Options, Time, random: new Random(7), checkpoints: _checkpoints);
        Reconciler = new TrainingJobReconciler(new KubernetesTrainingJobStore(Jobs, JobInformer.Cache), [Backend], new KubernetesEventSink(Events, Time), Time);
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
        _clients.Dispose();
        Client.Dispose();
        await SageMaker.DisposeAsync();
        await Api.DisposeAsync();
    }

    /// <summary>A SageMaker TrainingJob of one ml.m5.xlarge instance with a role the default allowlist permits.</summary>
    public static TrainingJob Job(string name, Action<TrainingJobSpec>? change = null)
    {
        var job = new TrainingJob
        {
            ApiVersion = "ferry.dev/v1alpha1",
            Kind = "TrainingJob",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace },
            Spec = new TrainingJobSpec
            {
                Backend = TrainingJobBackend.SageMaker,
                Image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ferry-trainer:0.1.0",
                Output = new OutputSpec { Uri = "s3://artifacts/mnist" },
                Resources = new ResourceSpec { Replicas = 1, InstanceType = "ml.m5.xlarge" },
                SageMaker = new SageMakerSpec { RoleArn = Role },
            },
        };
        change?.Invoke(job.Spec);
        return job;
    }

    /// <summary>Creates the job and waits until the operator's cache has it.</summary>
    public async Task<TrainingJob> ApplyAsync(TrainingJob job)
    {
        var created = await Jobs.CreateAsync(job);
        await WaitForCacheAsync(created.Metadata.Name);
        return created;
    }

    public async Task WaitForCacheAsync(string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!JobInformer.Cache.TryGet(Namespace, name, out _))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The TrainingJob informer did not see {name} within 30 s.");
            }

            await Task.Delay(10);
        }
    }

    public Task<TrainingJob?> GetAsync(string name) => Jobs.GetAsync(Namespace, name);

    /// <summary>The SageMaker job name of an attempt of the stored resource.</summary>
    public async Task<string> SageMakerNameAsync(string name, int attempt)
    {
        var job = await GetAsync(name) ?? throw new InvalidOperationException($"{name} does not exist.");
        return SageMakerJobName.For(name, job.Metadata.Uid, attempt);
    }

    /// <summary>One reconcile pass; a conflict (the cache was behind the API) is retried by the next pass, as the controller does.</summary>
    public async Task PassAsync(string name)
    {
        try
        {
            await Reconciler.ReconcileAsync(Namespace, name, CancellationToken.None);
        }
        catch (KubernetesApiException e) when (e.IsConflict)
        {
            // The next pass sees the write.
        }

        await Task.Delay(20); // let the informer deliver what the pass wrote, as between a controller's passes
    }

    /// <summary>Reconciles until <paramref name="done"/> holds for the stored job (null once deleted), advancing the fake clock by <paramref name="step"/> per pass.</summary>
    public async Task<TrainingJob?> ReconcileUntilAsync(string name, Func<TrainingJob?, bool> done, TimeSpan? step = null, int timeoutSeconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            await PassAsync(name);
            var job = await GetAsync(name);
            if (done(job))
            {
                return job;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"TrainingJob {name} did not reach the expected state; phase {job?.Status?.Phase}, " +
                    $"sageMaker {job?.Status?.SageMaker?.JobName}:{job?.Status?.SageMaker?.Status}/{job?.Status?.SageMaker?.SecondaryStatus}, " +
                    $"conditions [{string.Join("; ", job?.Status?.Conditions?.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}") ?? [])}], " +
                    $"SageMaker jobs [{string.Join(", ", SageMaker.Jobs.Names)}]");
            }

            Time.Advance(step ?? TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>The Events recorded about <paramref name="job"/>, oldest first.</summary>
    public async Task<IReadOnlyList<Corev1Event>> EventsOfAsync(string job) =>
        [.. (await Events.ListAsync(Namespace)).Items
            .Where(e => e.InvolvedObject?.Name == job)
            .OrderBy(e => e.Metadata.CreationTimestamp).ThenBy(e => long.Parse(e.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>The SageMaker emulator's view of a job (TrainingJobStatus, SecondaryStatus, …).</summary>
    public System.Text.Json.Nodes.JsonObject Describe(string sageMakerName) => SageMaker.Jobs.Describe(sageMakerName);

    /// <summary>Runs the real kubectl against the Kubernetes API emulator.</summary>
    public async Task<(int ExitCode, string Output)> KubectlAsync(params string[] args)
    {
        var start = new ProcessStartInfo("kubectl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("--kubeconfig");
        start.ArgumentList.Add(Api.KubeconfigPath);
        start.ArgumentList.Add("--cache-dir");
        start.ArgumentList.Add(Path.Combine(Path.GetTempPath(), "ferry-kubectl-cache-" + Environment.ProcessId));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The repository root (holds Operator.sln).</summary>
    public static string RepositoryRoot => Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(OperatorHarness.CrdPath)))!;
}
