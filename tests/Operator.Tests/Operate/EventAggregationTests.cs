using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator.Faults;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.Tests.Fixtures;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Operate;

/// <summary>
/// A transition whose status write fails is decided again by the retry, with the same Event: the operator folds the
/// repeat into the Event it already recorded (count and lastTimestamp), as client-go's event recorder does, instead of
/// creating a second one. Observed through the API, with the operator as the chart's ServiceAccount (RBAC enforced).
/// </summary>
public sealed class EventAggregationTests
{
    [Fact]
    public async Task A_refused_status_write_and_its_retry_record_one_event_with_count_two()
    {
        await using var harness = await OperatorHarness.StartAsync();
        harness.Api.Kubelet.Runtime = new ReplicaScriptRuntime(harness.Time, (_, _) => (null, new ContainerOutcome(0)));
        await harness.ApplyAsync(Job("repeat").WithReplicas(1));
        await harness.ReconcileUntilAsync("repeat", (job, _) => job?.Status?.Phase == TrainingJobPhase.Starting);
        await WaitForRunningPodAsync(harness, "repeat");

        var rule = harness.Api.Faults.Add(new FaultRule { Verb = "update", Resource = "trainingjobs", Subresource = "status", StatusCode = 500, Times = 1 });
        var refused = await Assert.ThrowsAsync<KubernetesApiException>(() => harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "repeat", CancellationToken.None));
        Assert.Equal(500, (int)refused.StatusCode);
        harness.Api.Faults.Remove(rule);
        harness.Time.Advance(TimeSpan.FromSeconds(5));
        await harness.Reconciler.ReconcileAsync(OperatorHarness.Namespace, "repeat", CancellationToken.None);

        Assert.Equal(TrainingJobPhase.Running, (await harness.GetAsync("repeat"))!.Status!.Phase);
        var running = (await harness.Events.ListAsync(OperatorHarness.Namespace)).Items
            .Where(e => e.InvolvedObject?.Name == "repeat" && e.Reason == "Running").ToList();
        var single = Assert.Single(running);
        Assert.Equal(2, single.Series!.Count);
        // T0 is a whole second: the client library would write it without the six fractional digits a MicroTime needs.
        Assert.Equal(T0.UtcDateTime.AddTicks(10), single.EventTime!.Value.ToUniversalTime());
        Assert.Equal(T0.UtcDateTime.AddSeconds(5).AddTicks(10), single.Series.LastObservedTime!.Value.ToUniversalTime());
        harness.AssertNothingForbidden();
    }

    [Fact]
    public async Task A_repeat_in_the_same_second_keeps_its_order_at_microsecond_precision()
    {
        // kubectl describe sorts Events by their last occurrence and prints "(xN over <since the first>)": both must keep
        // sub-second precision, or the transitions of one quick reconcile tie and print out of order.
        await using var harness = await OperatorHarness.StartAsync();
        var time = new FakeTimeProvider(T0.AddMilliseconds(300));
        var sink = new KubernetesEventSink(harness.Events, time);
        var job = Job("same-second").WithReplicas(1).Build();
        job.Metadata.Uid = "same-second-uid";
        job.Metadata.NamespaceProperty = OperatorHarness.Namespace;
        var running = new TrainingJobEvent("Normal", "Running", "All 1 replicas of attempt 1 are running.");

        await sink.RecordAsync(job, running, CancellationToken.None);
        time.Advance(TimeSpan.FromMilliseconds(500));
        await sink.RecordAsync(job, running, CancellationToken.None);

        var stored = Assert.Single((await harness.Events.ListAsync(OperatorHarness.Namespace)).Items, e => e.InvolvedObject?.Name == "same-second");
        Assert.Equal(2, stored.Series!.Count);
        Assert.Equal(T0.UtcDateTime.AddMilliseconds(300), stored.EventTime!.Value.ToUniversalTime());
        Assert.Equal(T0.UtcDateTime.AddMilliseconds(800), stored.Series.LastObservedTime!.Value.ToUniversalTime());
    }

    [Fact]
    public void A_repeat_within_the_window_counts_up_and_one_after_it_starts_a_new_event()
    {
        var time = new FakeTimeProvider(T0);
        var correlator = new EventCorrelator(time);
        var key = EventCorrelator.KeyOf(Event("Running", "All 2 replicas of attempt 1 are running."));
        Assert.Null(correlator.ObserveRepeat(key));
        correlator.Remember(key, Stored("repeat.1", count: 1));

        time.Advance(TimeSpan.FromMinutes(9));
        var repeat = correlator.ObserveRepeat(key);
        Assert.Equal(new EventCorrelator.Observation("default", "repeat.1", 2, T0.UtcDateTime, T0.UtcDateTime.AddMinutes(9)), repeat);
        correlator.Remember(key, Stored("repeat.1", count: 2));

        time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        Assert.Null(correlator.ObserveRepeat(key));
        Assert.Equal(0, correlator.Count);
    }

    [Fact]
    public void Events_that_differ_in_object_type_reason_or_message_are_not_repeats()
    {
        var correlator = new EventCorrelator(new FakeTimeProvider(T0));
        var first = Event("Running", "All 2 replicas of attempt 1 are running.");
        correlator.Remember(EventCorrelator.KeyOf(first), Stored("repeat.1", count: 1));

        Assert.Null(correlator.ObserveRepeat(EventCorrelator.KeyOf(Event("Running", "All 2 replicas of attempt 2 are running."))));
        Assert.Null(correlator.ObserveRepeat(EventCorrelator.KeyOf(Event("Restarting", "All 2 replicas of attempt 1 are running."))));
        Assert.Null(correlator.ObserveRepeat(EventCorrelator.KeyOf(Event("Running", "All 2 replicas of attempt 1 are running.", type: "Warning"))));
        Assert.Null(correlator.ObserveRepeat(EventCorrelator.KeyOf(Event("Running", "All 2 replicas of attempt 1 are running.", uid: "other-uid"))));
        Assert.NotNull(correlator.ObserveRepeat(EventCorrelator.KeyOf(Event("Running", "All 2 replicas of attempt 1 are running."))));
    }

    [Fact]
    public void The_cache_keeps_only_the_most_recently_used_events()
    {
        var correlator = new EventCorrelator(new FakeTimeProvider(T0), capacity: 2);
        string Key(int i) => EventCorrelator.KeyOf(Event("Running", $"message {i}"));
        correlator.Remember(Key(1), Stored("e.1", 1));
        correlator.Remember(Key(2), Stored("e.2", 1));
        Assert.NotNull(correlator.ObserveRepeat(Key(1))); // 1 is now the most recent
        correlator.Remember(Key(3), Stored("e.3", 1));    // evicts 2

        Assert.Equal(2, correlator.Count);
        Assert.Null(correlator.ObserveRepeat(Key(2)));
        Assert.NotNull(correlator.ObserveRepeat(Key(1)));
        Assert.NotNull(correlator.ObserveRepeat(Key(3)));
    }

    private static Corev1Event Event(string reason, string message, string type = "Normal", string uid = "job-uid") => new()
    {
        InvolvedObject = new V1ObjectReference { ApiVersion = TrainingJob.GroupVersion, Kind = TrainingJob.KubeKind, Name = "repeat", NamespaceProperty = "default", Uid = uid },
        Source = new V1EventSource { Component = KubernetesEventSink.Component },
        Type = type,
        Reason = reason,
        Message = message,
    };

    private static Corev1Event Stored(string name, int count) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
        Count = count,
        FirstTimestamp = T0.UtcDateTime,
        LastTimestamp = T0.UtcDateTime,
    };

    /// <summary>Waits (real time, failure guard only) until the operator's pod cache shows the replica running.</summary>
    private static async Task WaitForRunningPodAsync(OperatorHarness harness, string job)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!harness.PodInformer.Cache.List(OperatorHarness.Namespace, $"{TrainingJobLabels.JobName}={job}").Any(p => p.Status?.Phase == "Running"))
        {
            Assert.True(DateTime.UtcNow < deadline, $"The pod of {job} did not start.");
            await Task.Delay(20);
        }
    }
}
