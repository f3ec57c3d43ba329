using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Queue;
using Ferry.Operator.Runtime.Telemetry;
using Ferry.Operator.Tests.Fixtures;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Runtime.Telemetry;

/// <summary>
/// What <c>/metrics</c> shows, read back from the Prometheus exposition. Every test uses its own namespace, queue or
/// controller name, since the meter is shared by every test in the process.
/// </summary>
public sealed class MetricsExpositionTests
{
    [Fact]
    public async Task Jobs_show_by_phase_count_their_transitions_and_their_series_leave_with_the_job()
    {
        await using var metrics = await MetricsEndpoint.StartAsync();
        var time = new FakeTimeProvider(T0);
        var store = new InMemoryTrainingJobStore(time);
        var backend = new FakeBackend();
        var reconciler = new TrainingJobReconciler(store, [backend], new InMemoryEventSink(), time);
        const string ns = "metrics-lifecycle";
        store.Create(Job().WithReplicas(2).With(j => j.Metadata.NamespaceProperty = ns));
        var nsLabel = ("namespace", ns);

        await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
        var text = await metrics.ScrapeAsync();
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjobs", nsLabel, ("phase", "Starting"), ("backend", "InCluster")));
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjob_starts_total", nsLabel, ("backend", "InCluster")));
        Assert.Equal(T0.ToUnixTimeSeconds(), Exposition.Value(text, "ferry_trainingjobs_oldest_in_phase_timestamp_seconds", nsLabel, ("phase", "Starting")));

        time.Advance(TimeSpan.FromSeconds(42));
        backend.SetAll(ReplicaState.Running);
        backend.Report(0, "validation:loss", 0.25, time.GetUtcNow());
        await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
        text = await metrics.ScrapeAsync();
        Assert.Null(Exposition.Value(text, "ferry_trainingjobs", nsLabel, ("phase", "Starting")));
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjobs", nsLabel, ("phase", "Running")));
        Assert.Equal(0.25, Exposition.Value(text, "ferry_training_metric", nsLabel, ("trainingjob", "mnist"), ("metric", "validation:loss")));

        time.Advance(TimeSpan.FromSeconds(100));
        backend.SetAll(ReplicaState.Succeeded, exitCode: 0);
        await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
        text = await metrics.ScrapeAsync();
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjobs", nsLabel, ("phase", "Succeeded")));
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjob_completions_total", nsLabel, ("backend", "InCluster")));
        Assert.Null(Exposition.Value(text, "ferry_training_metric", nsLabel, ("trainingjob", "mnist"), ("metric", "validation:loss")));

        store.RequestDeletion(ns, "mnist");
        for (var i = 0; i < 3 && await store.GetAsync(ns, "mnist", CancellationToken.None) is not null; i++)
        {
            await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
        }

        await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
        text = await metrics.ScrapeAsync();
        Assert.Empty(Exposition.Samples(text, "ferry_trainingjobs", nsLabel));
        Assert.Empty(Exposition.Samples(text, "ferry_trainingjobs_oldest_in_phase_timestamp_seconds", nsLabel));
    }

    [Fact]
    public async Task Failures_and_restarts_are_counted_by_their_condition_reason()
    {
        await using var metrics = await MetricsEndpoint.StartAsync();
        var time = new FakeTimeProvider(T0);
        var store = new InMemoryTrainingJobStore(time);
        var backend = new FakeBackend();
        var reconciler = new TrainingJobReconciler(store, [backend], new InMemoryEventSink(), time, settings: LifecycleSettings.Default with { RestartBackoff = TimeSpan.Zero });
        const string ns = "metrics-failures";
        store.Create(Job().WithReplicas(1).WithMaxRetries(1).With(j => j.Metadata.NamespaceProperty = ns));
        var nsLabel = ("namespace", ns);

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            for (var pass = 0; pass < 4 && backend.Replicas.All(r => r.Attempt != attempt); pass++)
            {
                await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
            }

            backend.SetAll(ReplicaState.Failed, exitCode: 3);
            await reconciler.ReconcileAsync(ns, "mnist", CancellationToken.None);
        }

        var text = await metrics.ScrapeAsync();
        Assert.Equal(TrainingJobPhase.Failed, (await store.GetAsync(ns, "mnist", CancellationToken.None))!.Status!.Phase);
        Assert.Equal(2, Exposition.Value(text, "ferry_trainingjob_starts_total", nsLabel));
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjob_restarts_total", nsLabel, ("reason", "Restarting")));
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjob_failures_total", nsLabel, ("reason", "MaxRetriesExceeded")));
        Assert.Equal(1, Exposition.Value(text, "ferry_trainingjobs", nsLabel, ("phase", "Failed")));
    }

    [Fact]
    public async Task Reconcile_and_queue_histograms_use_second_buckets_and_the_queue_counts_adds_retries_and_waits()
    {
        await using var metrics = await MetricsEndpoint.StartAsync();
        var time = new FakeTimeProvider(T0);
        using var queue = new WorkQueue<string>("metrics-queue", time: time);
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");
        time.Advance(TimeSpan.FromMilliseconds(300));
        var item = await queue.GetAsync(CancellationToken.None);
        queue.Done(item.Key);
        queue.AddRateLimited("a");
        OperatorTelemetry.ReconcileDuration.Record(0.2, new("controller", "metrics-test"), new("result", "done"));

        var text = await metrics.ScrapeAsync();
        var q = ("queue", "metrics-queue");
        Assert.Equal(2, Exposition.Value(text, "ferry_workqueue_adds_total", q));
        Assert.Equal(1, Exposition.Value(text, "ferry_workqueue_retries_total", q));
        Assert.Equal(1, Exposition.Value(text, "ferry_workqueue_depth", q));
        Assert.Equal(0, Exposition.Value(text, "ferry_workqueue_queue_duration_seconds_bucket", q, ("le", "0.25")));
        Assert.Equal(1, Exposition.Value(text, "ferry_workqueue_queue_duration_seconds_bucket", q, ("le", "0.5")));

        var c = ("controller", "metrics-test");
        Assert.Equal(0, Exposition.Value(text, "ferry_reconcile_duration_seconds_bucket", c, ("le", "0.1")));
        Assert.Equal(1, Exposition.Value(text, "ferry_reconcile_duration_seconds_bucket", c, ("le", "0.25")));
        Assert.Equal(1, Exposition.Value(text, "ferry_reconcile_duration_seconds_bucket", c, ("le", "+Inf")));
        Assert.Equal(
            [.. OperatorTelemetry.SecondsBuckets.Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture)), "+Inf"],
            text.Split('\n').Where(l => l.StartsWith("ferry_reconcile_duration_seconds_bucket{", StringComparison.Ordinal) && l.Contains("controller=\"metrics-test\"", StringComparison.Ordinal))
                .Select(l => l[(l.IndexOf("le=\"", StringComparison.Ordinal) + 4)..].Split('"')[0]));
    }

    [Theory]
    [InlineData("GET", "/api/v1/namespaces/default/pods?labelSelector=a%3Db", "list", "pods")]
    [InlineData("GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=5", "watch", "pods")]
    [InlineData("GET", "/api/v1/namespaces/default/pods/mnist-0", "get", "pods")]
    [InlineData("PUT", "/apis/ferry.dev/v1alpha1/namespaces/team-a/trainingjobs/mnist/status", "update", "trainingjobs/status")]
    [InlineData("PATCH", "/apis/coordination.k8s.io/v1/namespaces/ferry-system/leases/ferry", "patch", "leases")]
    [InlineData("POST", "/api/v1/namespaces/default/events", "create", "events")]
    [InlineData("DELETE", "/api/v1/namespaces/default/pods/mnist-0", "delete", "pods")]
    [InlineData("DELETE", "/api/v1/namespaces/default/pods", "deletecollection", "pods")]
    [InlineData("GET", "/apis/ferry.dev/v1alpha1/trainingjobs?watch=1", "watch", "trainingjobs")]
    [InlineData("GET", "/api/v1/namespaces/team-a", "get", "namespaces")]
    [InlineData("GET", "/version", "get", "nonresource")]
    public void Kubernetes_requests_are_named_by_verb_and_resource_as_the_audit_log_names_them(string method, string path, string verb, string resource) =>
        Assert.Equal((verb, resource), KubernetesApiMetricsHandler.Classify(new HttpMethod(method), new Uri("https://10.0.0.1:6443" + path)));
}
