using System.Collections.Concurrent;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Informers;
using Ferry.Operator.Runtime.Queue;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Runtime.Support;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Runtime.Support.Pods;

namespace Ferry.Operator.Tests.Runtime.Controllers;

public sealed class ControllerTests : IAsyncDisposable
{
    private readonly TestTime _time = new();
    private readonly ScriptedResourceClient<TestJob> _jobs = new(ResourceKind.For<TestJob>());
    private readonly ScriptedResourceClient<V1Pod> _pods = new(ResourceKind.Pods);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];

    private (Controller<TestJob> Controller, RecordingReconciler Reconciler) Start(
        Func<ObjectKey, ReconcileResult>? decide = null, int workers = 1, bool runWorkers = true)
    {
        var jobInformer = new Informer<TestJob>(_jobs, time: _time);
        var podInformer = new Informer<V1Pod>(_pods, time: _time);
        var reconciler = new RecordingReconciler(decide ?? (_ => ReconcileResult.Done));
        var queue = new WorkQueue<ObjectKey>($"jobs-{Guid.NewGuid():N}",
            new ItemExponentialRateLimiter<ObjectKey>(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1)), _time);
        var controller = new Controller<TestJob>("trainingjob", jobInformer, reconciler, workers, queue, _time)
            .Owns(podInformer, ownerNameLabel: "ferry.dev/job-name");
        _running.Add(jobInformer.RunAsync(_stop.Token));
        _running.Add(podInformer.RunAsync(_stop.Token));
        if (runWorkers)
        {
            _running.Add(controller.RunWorkersAsync(_stop.Token));
        }

        return (controller, reconciler);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_running).WaitAsync(Wait.Generous);
        _stop.Dispose();
    }

    [Fact]
    public async Task Every_cached_job_is_reconciled_once_caches_sync()
    {
        _jobs.EnqueueList("10", TestJob.Named("one", "3"), TestJob.Named("two", "4"));
        _pods.EnqueueList("20");
        var (_, reconciler) = Start();

        await Wait.UntilAsync(() => reconciler.Calls.Count == 2, "both jobs reconciled");
        Assert.Equal(["default/one", "default/two"], reconciler.Calls.Select(k => k.ToString()).Order());
    }

    [Fact]
    public async Task Changes_to_owned_pods_enqueue_the_owning_job_by_owner_reference_or_label()
    {
        _jobs.EnqueueList("10", TestJob.Named("one", "3"));
        _pods.EnqueueList("20");
        var (_, reconciler) = Start();
        await Wait.UntilAsync(() => reconciler.Calls.Count == 1, "initial reconcile");
        var podWatch = await _pods.WatchAsync(0);

        var owner = new V1OwnerReference { ApiVersion = "ferry.dev/v1alpha1", Kind = "TrainingJob", Name = "one", Uid = "uid-one", Controller = true };
        podWatch.Send(WatchEventType.Added, Pod("one-0", "21", owner: owner));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 2, "reconcile after owned pod added");

        podWatch.Send(WatchEventType.Added, Pod("two-0", "22", labels: new Dictionary<string, string> { ["ferry.dev/job-name"] = "two" }));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 3, "reconcile by label fallback");
        Assert.Equal("default/two", reconciler.Calls.Last().ToString());

        // A pod controlled by something else (or not a controller reference) is not ours.
        var foreign = new V1OwnerReference { ApiVersion = "apps/v1", Kind = "ReplicaSet", Name = "one", Uid = "x", Controller = true };
        podWatch.Send(WatchEventType.Added, Pod("rs-0", "23", owner: foreign));
        podWatch.Send(WatchEventType.Deleted, Pod("one-0", "24", owner: owner));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 4, "reconcile after owned pod deleted");
        Assert.Equal("default/one", reconciler.Calls.Last().ToString());
    }

    [Fact]
    public void Owner_keys_require_a_controller_reference_of_the_owner_kind_and_group()
    {
        var kind = ResourceKind.For<TestJob>();
        var notController = new V1OwnerReference { ApiVersion = "ferry.dev/v1alpha1", Kind = "TrainingJob", Name = "one", Uid = "u", Controller = false };
        var otherGroup = new V1OwnerReference { ApiVersion = "other.dev/v1", Kind = "TrainingJob", Name = "one", Uid = "u", Controller = true };

        Assert.Empty(Controller<TestJob>.OwnerKeys(Pod("p", "1", owner: notController), kind, null));
        Assert.Empty(Controller<TestJob>.OwnerKeys(Pod("p", "1", owner: otherGroup), kind, null));
        Assert.Equal([new ObjectKey("ml", "j")], Controller<TestJob>.OwnerKeys(
            Pod("p", "1", "ml", new Dictionary<string, string> { ["ferry.dev/job-name"] = "j" }), kind, "ferry.dev/job-name"));
    }

    [Fact]
    public async Task Requeue_after_reconciles_again_when_the_delay_passed()
    {
        _jobs.EnqueueList("10", TestJob.Named("one", "3"));
        _pods.EnqueueList("20");
        var (_, reconciler) = Start(_ => ReconcileResult.RequeueAfter(TimeSpan.FromSeconds(30)));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 1, "first reconcile");
        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(30));

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Single(reconciler.Calls);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 2, "second reconcile");
    }

    [Fact]
    public async Task Transient_errors_retry_with_growing_backoff_terminal_errors_do_not_retry()
    {
        _jobs.EnqueueList("10", TestJob.Named("flaky", "3"), TestJob.Named("bad", "4"));
        _pods.EnqueueList("20");
        var (controller, reconciler) = Start(key => key.Name == "bad"
            ? ReconcileResult.Error(new InvalidOperationException("spec.image is required"), transient: false)
            : ReconcileResult.Error(new HttpRequestException("timeout")));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 2, "both reconciled once");

        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        await Wait.UntilAsync(() => reconciler.CallsFor("flaky") == 2, "first retry after 1s");
        await _time.WaitForTimerAsync(d => d == TimeSpan.FromSeconds(2));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, reconciler.CallsFor("flaky"));
        _time.Advance(TimeSpan.FromSeconds(1));
        await Wait.UntilAsync(() => reconciler.CallsFor("flaky") == 3, "second retry after 2s more");

        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(1, reconciler.CallsFor("bad"));
        Assert.Equal(0, controller.Queue.NumRequeues(new ObjectKey("default", "bad")));
    }

    [Fact]
    public async Task Workers_are_bounded_and_one_key_is_never_reconciled_twice_at_once()
    {
        var jobs = Enumerable.Range(0, 6).Select(i => TestJob.Named($"j{i}", $"{i + 1}")).ToArray();
        _jobs.EnqueueList("10", jobs);
        _pods.EnqueueList("20");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconciler = new GatedReconciler(gate.Task);
        var jobInformer = new Informer<TestJob>(_jobs, time: _time);
        var controller = new Controller<TestJob>("gated", jobInformer, reconciler, maxConcurrentReconciles: 3, time: _time);
        _running.Add(jobInformer.RunAsync(_stop.Token));
        _running.Add(controller.RunWorkersAsync(_stop.Token));

        await Wait.UntilAsync(() => reconciler.InFlight == 3, "three reconciles in flight");
        var watch = await _jobs.WatchAsync(0);
        watch.Send(WatchEventType.Modified, TestJob.Named("j0", "30"));
        Assert.Equal(3, reconciler.InFlight);

        gate.SetResult();
        await Wait.UntilAsync(() => reconciler.Completed == 7, "all six jobs plus j0 again");
        Assert.Equal(3, reconciler.MaxInFlight);
        Assert.Equal(0, reconciler.SameKeyOverlaps);
    }

    [Fact]
    public async Task Cancelling_the_workers_stops_reconciling_and_a_new_run_resumes()
    {
        _jobs.EnqueueList("10", TestJob.Named("one", "3"));
        _pods.EnqueueList("20");
        var (controller, reconciler) = Start(runWorkers: false);
        using (var term = new CancellationTokenSource())
        {
            var workers = controller.RunWorkersAsync(term.Token);
            await Wait.UntilAsync(() => reconciler.Calls.Count == 1, "reconciled in the first term");
            await term.CancelAsync();
            await workers.WaitAsync(Wait.Generous);
        }

        var watch = await _jobs.WatchAsync(0);
        watch.Send(WatchEventType.Modified, TestJob.Named("one", "11"));
        await Wait.UntilAsync(() => controller.Queue.Count == 1, "change queued while not leading");
        Assert.Single(reconciler.Calls);

        _running.Add(controller.RunWorkersAsync(_stop.Token));
        await Wait.UntilAsync(() => reconciler.Calls.Count == 2, "reconciled in the second term");
    }

    private sealed class RecordingReconciler(Func<ObjectKey, ReconcileResult> decide) : IReconciler<TestJob>
    {
        public ConcurrentQueue<ObjectKey> Calls { get; } = new();

        public int CallsFor(string name) => Calls.Count(k => k.Name == name);

        public Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
        {
            var key = new ObjectKey(ns, name);
            Calls.Enqueue(key);
            return Task.FromResult(decide(key));
        }
    }

    private sealed class GatedReconciler(Task gate) : IReconciler<TestJob>
    {
        private readonly ConcurrentDictionary<string, int> _perKey = new();
        private int _inFlight;
        private int _maxInFlight;
        private int _completed;
        private int _overlaps;

        public int InFlight => Volatile.Read(ref _inFlight);

        public int MaxInFlight => Volatile.Read(ref _maxInFlight);

        public int Completed => Volatile.Read(ref _completed);

        public int SameKeyOverlaps => Volatile.Read(ref _overlaps);

        public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
        {
            if (_perKey.AddOrUpdate(name, 1, (_, n) => n + 1) > 1)
            {
                Interlocked.Increment(ref _overlaps);
            }

            var now = Interlocked.Increment(ref _inFlight);
            int seen;
            while ((seen = Volatile.Read(ref _maxInFlight)) < now && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen)
            {
            }

            await gate.WaitAsync(cancellationToken);
            Interlocked.Decrement(ref _inFlight);
            _perKey.AddOrUpdate(name, 0, (_, n) => n - 1);
            Interlocked.Increment(ref _completed);
            return ReconcileResult.Done;
        }
    }
}
