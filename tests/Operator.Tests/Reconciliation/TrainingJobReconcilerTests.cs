using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Reconciliation;

/// <summary>The reconciler over the in-memory store (what `ferry run` uses) and a fake backend.</summary>
public sealed class TrainingJobReconcilerTests
{
    private readonly FakeTimeProvider _time = new(T0);
    private readonly InMemoryTrainingJobStore _store;
    private readonly InMemoryEventSink _events = new();
    private readonly FakeBackend _backend = new();
    private readonly TrainingJobReconciler _reconciler;

    public TrainingJobReconcilerTests()
    {
        _store = new InMemoryTrainingJobStore(_time);
        _reconciler = new TrainingJobReconciler(_store, [_backend], _events, _time);
    }

    private Task<ReconcileResult> ReconcileAsync(string name = "mnist") => _reconciler.ReconcileAsync("team-a", name, CancellationToken.None);

    private TrainingJob Stored(string name = "mnist") => _store.GetAsync("team-a", name, CancellationToken.None).Result!;

    [Fact]
    public async Task A_job_goes_from_created_to_complete_and_a_settled_job_writes_nothing()
    {
        _store.Create(Job().WithReplicas(2));

        await ReconcileAsync();
        Assert.Contains(TrainingJobLabels.Finalizer, Stored().Metadata.Finalizers);
        Assert.Equal(2, _backend.Replicas.Count);
        Assert.Equal(TrainingJobPhase.Starting, Stored().Status!.Phase);

        _backend.SetAll(ReplicaState.Running);
        await ReconcileAsync();
        Assert.Equal(TrainingJobPhase.Running, Stored().Status!.Phase);

        var writes = _store.Writes;
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.IsType<ReconcileResult.DoneResult>(await ReconcileAsync());
        Assert.Equal(writes, _store.Writes);

        _backend.SetAll(ReplicaState.Succeeded, exitCode: 0);
        await ReconcileAsync();
        Assert.Equal(TrainingJobPhase.Succeeded, Stored().Status!.Phase);
        Assert.Equal("True", ConditionList.Find(Stored().Status!.Conditions, "Complete")!.Status);

        writes = _store.Writes;
        for (var i = 0; i < 3; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(5));
            await ReconcileAsync();
        }

        Assert.Equal(writes, _store.Writes);
        Assert.Equal(["PodsCreated", "Running", "Succeeded"], _events.Events.Select(e => e.Event.Reason));
    }

    [Fact]
    public async Task Deletion_cleans_up_through_the_backend_and_releases_the_finalizer_once()
    {
        _store.Create(Job().WithReplicas(2));
        await ReconcileAsync();

        _store.RequestDeletion("team-a", "mnist");
        Assert.NotNull(Stored().Metadata.DeletionTimestamp);
        await ReconcileAsync();

        Assert.Null(await _store.GetAsync("team-a", "mnist", CancellationToken.None));
        Assert.Empty(_backend.Replicas);
        Assert.Equal(1, _backend.CleanUps);
        Assert.IsType<ReconcileResult.DoneResult>(await ReconcileAsync());
        Assert.Equal(1, _backend.CleanUps);
    }

    [Fact]
    public async Task A_backend_whose_children_are_garbage_collected_gets_no_finalizer()
    {
        _backend.NeedsFinalizer = false;
        _store.Create(Job().WithReplicas(2));

        await ReconcileAsync();

        Assert.True(Stored().Metadata.Finalizers is null || !Stored().Metadata.Finalizers.Contains(TrainingJobLabels.Finalizer));
        Assert.Equal(2, _backend.Replicas.Count);
        _store.RequestDeletion("team-a", "mnist");
        Assert.Null(await _store.GetAsync("team-a", "mnist", CancellationToken.None));
        Assert.Equal(0, _backend.CleanUps);
    }

    [Fact]
    public async Task A_backend_the_operator_lacks_ends_in_invalid_spec_without_retry()
    {
        _store.Create(Job().With(j => j.Spec.Backend = TrainingJobBackend.Local));

        var result = await ReconcileAsync();

        Assert.IsType<ReconcileResult.DoneResult>(result);
        var failed = ConditionList.Find(Stored().Status!.Conditions, "Failed")!;
        Assert.Equal("InvalidSpec", failed.Reason);
        Assert.Contains("spec.backend is Local", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_backend.Replicas);
        var writes = _store.Writes;
        await ReconcileAsync();
        Assert.Equal(writes, _store.Writes);
    }

    [Fact]
    public async Task Ttl_deletes_the_finished_job_when_it_expires()
    {
        _store.Create(Job().WithTtl(120));
        await ReconcileAsync();
        _backend.SetAll(ReplicaState.Succeeded, exitCode: 0);

        var finished = await ReconcileAsync();
        Assert.Equal(TimeSpan.Zero, Assert.IsType<ReconcileResult.RequeueAfterResult>(finished).Delay); // the clean-up pass
        var settled = await ReconcileAsync();
        Assert.Equal(TimeSpan.FromSeconds(120), Assert.IsType<ReconcileResult.RequeueAfterResult>(settled).Delay);

        _time.Advance(TimeSpan.FromSeconds(120));
        await ReconcileAsync(); // deletion requested: the finalizer holds the job
        await ReconcileAsync(); // the finalizer runs

        Assert.Null(await _store.GetAsync("team-a", "mnist", CancellationToken.None));
    }

    [Fact]
    public async Task A_transient_backend_error_surfaces_for_the_controllers_backoff_and_writes_no_status()
    {
        _store.Create(Job());
        _backend.FailObserveWith = new HttpRequestException("connection refused");

        await Assert.ThrowsAsync<HttpRequestException>(() => ReconcileAsync());
        Assert.Null(Stored().Status);
    }

    [Fact]
    public async Task A_backend_refusal_fails_the_job_as_invalid_spec_and_stops_what_was_started()
    {
        _store.Create(Job().WithReplicas(2));
        _backend.FailStartWith = new TrainingJobRefusedException("The Kubernetes API refused the job's pod: priorityClassName 'gold' not found.");

        // The refusal is recorded first; the next pass stops the replica that was created before it.
        Assert.Equal(TimeSpan.Zero, Assert.IsType<ReconcileResult.RequeueAfterResult>(await ReconcileAsync()).Delay);
        var status = Stored().Status!;
        Assert.Equal(TrainingJobPhase.Failed, status.Phase);
        Assert.Equal("InvalidSpec", ConditionList.Find(status.Conditions, "Failed")!.Reason);
        Assert.Contains("priorityClassName 'gold'", status.FailureReason, StringComparison.Ordinal);
        Assert.Single(_backend.Replicas);

        Assert.IsType<ReconcileResult.DoneResult>(await ReconcileAsync());
        Assert.Empty(_backend.Replicas);
        var writes = _store.Writes;
        await ReconcileAsync();
        Assert.Equal(writes, _store.Writes);
    }

    [Fact]
    public async Task A_configuration_change_never_fails_a_running_job_and_warns_once()
    {
        _store.Create(Job().WithReplicas(2));
        await ReconcileAsync();
        _backend.SetAll(ReplicaState.Running);
        await ReconcileAsync();

        _backend.Refuse = "spec.spot is true, but this operator has no spot placement configured.";
        await ReconcileAsync();
        await ReconcileAsync();

        Assert.Equal(TrainingJobPhase.Running, Stored().Status!.Phase);
        Assert.Equal(2, _backend.Replicas.Count(r => r.State == ReplicaState.Running));
        var warning = Assert.Single(_events.Events, e => e.Event.Reason == "SpecNowRefused").Event;
        Assert.Contains("keeps running", warning.Message, StringComparison.Ordinal);
        Assert.Contains("no spot placement", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_spec_is_checked_before_an_attempt_starts()
    {
        _backend.Refuse = "spec.spot is true, but this operator has no spot placement configured.";
        _store.Create(Job().WithReplicas(2));

        await ReconcileAsync();

        Assert.Equal(TrainingJobPhase.Failed, Stored().Status!.Phase);
        Assert.Equal("InvalidSpec", ConditionList.Find(Stored().Status!.Conditions, "Failed")!.Reason);
        Assert.Empty(_backend.Replicas);
    }

    [Fact]
    public async Task A_job_whose_backend_this_operator_lacks_keeps_its_finalizer_when_deleted()
    {
        var job = _store.Create(Job().With(j => j.Spec.Backend = TrainingJobBackend.SageMaker));
        await _store.AddFinalizerAsync(job, TrainingJobLabels.Finalizer, CancellationToken.None);
        _store.RequestDeletion("team-a", "mnist");

        Assert.IsType<ReconcileResult.DoneResult>(await ReconcileAsync());
        await ReconcileAsync();

        var stored = Stored();
        Assert.Contains(TrainingJobLabels.Finalizer, stored.Metadata.Finalizers);
        var blocked = ConditionList.Find(stored.Status!.Conditions, TrainingJobReconciler.CleanUpBlockedCondition)!;
        Assert.Equal(("True", "BackendUnavailable"), (blocked.Status, blocked.Reason));
        Assert.Contains("no SageMaker backend", blocked.Message, StringComparison.Ordinal);
        Assert.Single(_events.Events, e => e.Event is { Type: TrainingJobEvent.Warning, Reason: "BackendUnavailable" });
    }

    [Fact]
    public void Lifecycle_settings_come_from_the_helm_values_section_and_default_otherwise()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Lifecycle:StartupTimeoutSeconds"] = "120",
            ["Lifecycle:MaxDisruptions"] = "3",
        }).Build();

        var settings = TrainingJobControllerSetup.ReadLifecycle(configuration);

        Assert.Equal((TimeSpan.FromMinutes(2), 3), (settings.StartupTimeout, settings.MaxDisruptions));
        Assert.Equal(LifecycleSettings.Default.RestartBackoff, settings.RestartBackoff);
        Assert.Equal(LifecycleSettings.Default, TrainingJobControllerSetup.ReadLifecycle(new ConfigurationBuilder().Build()));
    }

    [Fact]
    public async Task A_job_that_does_not_exist_is_done()
    {
        Assert.IsType<ReconcileResult.DoneResult>(await ReconcileAsync("missing"));
        Assert.Equal(0, _store.Writes);
    }

    [Fact]
    public void The_host_setup_registers_a_reconciler_with_the_configured_in_cluster_options()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["InCluster:AgentImage"] = "registry.local/ferry:9",
            ["InCluster:SpotNodeSelector:pool"] = "spot",
            ["InCluster:SpotTolerations:0:key"] = "spot",
            ["InCluster:SpotTolerations:0:operator"] = "Exists",
            ["InCluster:SpotTolerations:0:effect"] = "NoSchedule",
            ["S3:Endpoint"] = "http://minio.storage:9000",
            ["SageMaker:Region"] = "eu-west-1",
            ["SageMaker:Endpoint"] = "https://vpce-1.api.sagemaker.eu-west-1.vpce.amazonaws.com",
            ["SageMaker:AllowedRoles:ml-team:0"] = "arn:aws:iam::123456789012:role/ml-*",
            ["SageMaker:AllowedRoles:*:0"] = "arn:aws:iam::123456789012:role/shared",
            ["SageMaker:Polling:HeartbeatSeconds"] = "900",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton<IKubernetes>(new Kubernetes(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }));
        services.AddSingleton(typeof(IResourceClient<>), typeof(KubernetesResourceClient<>));
        services.AddSingleton(sp => new InformerFactory(sp.GetRequiredService, new InformerOptions(), _time,
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(), sp.GetServices<InformerScope>()));
        services.AddSingleton(typeof(IInformerCache<>), typeof(SharedInformerCache<>));

        new TrainingJobControllerSetup().Register(services, configuration);
        using var provider = services.BuildServiceProvider();

        Assert.NotNull(provider.GetRequiredService<IReconciler<TrainingJob>>());
        var options = provider.GetRequiredService<InClusterOptions>();
        Assert.Equal("registry.local/ferry:9", options.AgentImage);
        Assert.Equal("spot", options.SpotNodeSelector["pool"]);
        var toleration = Assert.Single(options.SpotTolerations);
        Assert.Equal(("spot", "Exists", "NoSchedule"), (toleration.Key, toleration.OperatorProperty, toleration.Effect));
        Assert.Equal("http://minio.storage:9000", options.AgentEnvironment["FERRY_S3_ENDPOINT"]);
        Assert.Equal("true", options.AgentEnvironment["FERRY_S3_FORCE_PATH_STYLE"]);
        Assert.Equal([TrainingJobBackend.InCluster, TrainingJobBackend.SageMaker], provider.GetServices<ITrainingBackend>().Select(b => b.Backend));
        var sageMaker = provider.GetRequiredService<Ferry.Operator.Backends.SageMaker.SageMakerBackendOptions>();
        Assert.Equal(("eu-west-1", "vpce-1.api.sagemaker.eu-west-1.vpce.amazonaws.com", TimeSpan.FromMinutes(15)),
            (sageMaker.Region, sageMaker.Endpoint?.Host, sageMaker.Polling.Heartbeat));
        Assert.Equal(["arn:aws:iam::123456789012:role/ml-*"], sageMaker.AllowedRoles["ml-team"]);
        Assert.Equal(["arn:aws:iam::123456789012:role/shared"], sageMaker.AllowedRoles["*"]);
        // Only Ferry's children are cached.
        var podScope = Assert.Single(provider.GetServices<InformerScope>(), s => s.Type == typeof(k8s.Models.V1Pod));
        Assert.Equal("ferry.dev/job-name", podScope.LabelSelector);
        Assert.Equal(["spec"], podScope.OmitOnWatch);
        var pod = new k8s.Models.V1Pod
        {
            Metadata = new() { Name = "p", Annotations = new Dictionary<string, string> { ["a"] = "b" } },
            Spec = new() { Containers = [] },
            Status = new()
            {
                Phase = "Failed",
                PodIP = "10.0.0.7",
                Conditions = [new() { Type = "Ready", Status = "False" }],
                ContainerStatuses =
                [
                    new() { Name = "train", Image = "img", State = new() { Terminated = new() { ExitCode = 3, Message = "boom", Reason = "Error" } } },
                    new() { Name = "sidecar", Image = "img" },
                ],
            },
        };
        podScope.Trim!(pod);
        // The pod IP stays: rank 0's live metrics are polled there.
        Assert.Equal((null, null, "Failed", "10.0.0.7", null), (pod.Spec, pod.Metadata.Annotations, pod.Status.Phase, pod.Status.PodIP, pod.Status.Conditions));
        var train = Assert.Single(pod.Status.ContainerStatuses);
        Assert.Equal((null, 3, "boom"), (train.Image, train.State.Terminated.ExitCode, train.State.Terminated.Message));
    }
}
