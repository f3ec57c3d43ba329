using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Errors;
using Ferry.KubeEmulator.Store;

namespace Ferry.KubeEmulator.Kubelet;

/// <summary>
/// Moves pods through Pending → Running → Succeeded/Failed with init and main container statuses, exit codes and
/// termination messages, as a kubelet reports them. Containers are run by an <see cref="IPodRuntime"/> (by default the
/// <see cref="Script"/>, driven by the emulator's TimeProvider). Idle until <see cref="Start"/> is called.
/// Simplifications: no scheduling (every pod lands on one node), containers are never restarted (restartPolicy is ignored),
/// and readiness equals running.
/// </summary>
/// <remarks>https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/</remarks>
public sealed class SimulatedKubelet : IAsyncDisposable
{
    /// <summary>The node name reported for pods.</summary>
    public const string NodeName = "emulator-node";

    private readonly KubeApiEmulator _api;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, (CancellationTokenSource Cancel, Task Run)> _pods = new(StringComparer.Ordinal);
    // Runs of deleted pods still inside their grace period: stopping the kubelet waits for them too, as a node drains.
    private readonly ConcurrentDictionary<Task, byte> _terminating = new();
    private CancellationTokenSource? _stop;
    // Pod IPs are unique across every emulator in this process (tests run several side by side) and start at a random
    // point, so emulators in other test processes on the machine hand out other addresses: two pods that share an
    // address would share rank 0's metrics port, and one of them would lose its live metrics.
    private static int _nextIp = Random.Shared.Next(0, 10_000_000);

    internal SimulatedKubelet(KubeApiEmulator api, TimeProvider time)
    {
        _api = api;
        _time = time;
        Script = new ScriptedPodRuntime(time);
        Runtime = Script;
    }

    /// <summary>The default runtime: scripted container behaviour.</summary>
    public ScriptedPodRuntime Script { get; }

    /// <summary>The runtime that runs containers (replace before <see cref="Start"/> to run real processes).</summary>
    public IPodRuntime Runtime { get; set; }

    public bool IsRunning => _stop is not null;

    /// <summary>Number of pods the kubelet is currently running.</summary>
    public int ActivePods => _pods.Count(p => !p.Value.Run.IsCompleted);

    /// <summary>Starts handling pods (existing ones and those created later).</summary>
    public void Start()
    {
        if (_stop is not null)
        {
            return;
        }

        _stop = new CancellationTokenSource();
        _api.Store.Committed += OnCommitted;
        var pods = _api.Registry.Find("", "v1", "pods")!;
        foreach (var pod in _api.Store.Snapshot(pods.Collection, null).Items)
        {
            Launch(pod);
        }
    }

    /// <summary>Completes when every pod the kubelet started has settled (terminated or waiting on its script).</summary>
    public async Task StopAsync()
    {
        if (_stop is null)
        {
            return;
        }

        _api.Store.Committed -= OnCommitted;
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_pods.Values.Select(p => p.Run).Concat(_terminating.Keys));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        _stop.Dispose();
        _stop = null;
        _pods.Clear();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private void OnCommitted(WatchEvent e)
    {
        if (e.Collection.Plural != "pods" || e.Collection.Group.Length != 0)
        {
            return;
        }

        if (e.Type == WatchEventType.Added)
        {
            Launch(e.Object);
        }
        else if (e.Type == WatchEventType.Deleted && _pods.TryRemove(e.Object.Uid, out var run))
        {
            _terminating.TryAdd(run.Run, 0);
            _ = run.Run.ContinueWith(t => _terminating.TryRemove(t, out _), TaskScheduler.Default);
            run.Cancel.Cancel();
        }
    }

    private void Launch(StoredObject pod)
    {
        var stop = _stop;
        if (stop is null || pod.IsDeleting || pod.Fields.GetValueOrDefault("status.phase") is "Succeeded" or "Failed")
        {
            return;
        }

        var cts = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        _pods.GetOrAdd(pod.Uid, _ => (cts, Task.Run(() => RunPodAsync(pod.ToJsonObject(), cts.Token))));
    }

    private async Task RunPodAsync(JsonObject pod, CancellationToken ct)
    {
        var ns = (string)pod["metadata"]!["namespace"]!;
        var name = (string)pod["metadata"]!["name"]!;
        var uid = (string)pod["metadata"]!["uid"]!;
        var gate = new SemaphoreSlim(1, 1);
        var inits = (pod["spec"]?["initContainers"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        var mains = (pod["spec"]?["containers"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        // A distinct loopback address per pod (Linux routes all of 127.0.0.0/8 to lo), so a process-mode pod can bind
        // its own IP and be reached there, as a pod IP is; the runtime sees it as the pod's status.podIP.
        var n = Interlocked.Increment(ref _nextIp) & int.MaxValue;
        var podIp = $"127.{n / 62500 % 250 + 1}.{n / 250 % 250}.{n % 250 + 1}";
        pod["status"] ??= new JsonObject();
        pod["status"]!["podIP"] = podIp;
        try
        {
            var started = Now();
            await WriteStatusAsync(s =>
            {
                s["phase"] = "Pending";
                s["hostIP"] = "10.0.0.1";
                s["hostIPs"] = new JsonArray(new JsonObject { ["ip"] = "10.0.0.1" });
                s["podIP"] = podIp;
                s["podIPs"] = new JsonArray(new JsonObject { ["ip"] = podIp });
                s["startTime"] = started;
                s["conditions"] = Conditions(scheduled: true, initialized: inits.Count == 0, ready: false);
                if (inits.Count > 0)
                {
                    s["initContainerStatuses"] = new JsonArray(inits.Select(c => (JsonNode)Waiting(c, "PodInitializing")).ToArray());
                }

                s["containerStatuses"] = new JsonArray(mains.Select(c => (JsonNode)Waiting(c, inits.Count > 0 ? "PodInitializing" : "ContainerCreating")).ToArray());
            });

            for (var i = 0; i < inits.Count; i++)
            {
                var index = i;
                var startedAt = Now();

                // Start the container before reporting it running, so a test that sees "running" and advances the clock
                // never races the container's timer.
                var run = Runtime.RunContainerAsync(pod, inits[index], true, ct);
                await WriteStatusAsync(s => s["initContainerStatuses"]![index] = Running(inits[index], startedAt, uid));
                var outcome = await run;
                var finishedAt = Now();
                await WriteStatusAsync(s => s["initContainerStatuses"]![index] = Terminated(inits[index], outcome, startedAt, finishedAt, uid));
                if (outcome.ExitCode != 0)
                {
                    await WriteStatusAsync(s =>
                    {
                        s["phase"] = "Failed";
                        s["conditions"] = Conditions(true, false, false);
                        s["containerStatuses"] = new JsonArray(mains.Select(c => (JsonNode)Waiting(c, "PodInitializing")).ToArray());
                    });
                    return;
                }
            }

            var mainStarted = Now();
            var runs = mains.Select(c => Runtime.RunContainerAsync(pod, c, false, ct)).ToList();
            await WriteStatusAsync(s =>
            {
                s["phase"] = "Running";
                s["conditions"] = Conditions(true, true, true);
                s["containerStatuses"] = new JsonArray(mains.Select(c => (JsonNode)Running(c, mainStarted, uid)).ToArray());
            });

            var outcomes = new ContainerOutcome[mains.Count];
            await Task.WhenAll(mains.Select(async (c, index) =>
            {
                var outcome = await runs[index];
                outcomes[index] = outcome;
                var finishedAt = Now();
                await gate.WaitAsync(ct);
                try
                {
                    await WriteStatusAsync(s =>
                    {
                        s["containerStatuses"]![index] = Terminated(c, outcome, mainStarted, finishedAt, uid);
                        s["conditions"] = Conditions(true, true, false);
                    });
                }
                finally
                {
                    gate.Release();
                }
            }));

            await WriteStatusAsync(s => s["phase"] = outcomes.All(o => o.ExitCode == 0) ? "Succeeded" : "Failed");
        }
        catch (OperationCanceledException)
        {
            // Pod deleted or kubelet stopped.
        }
        catch (ApiException e) when (e.Code == 404)
        {
            // Pod deleted while we were writing its status.
        }
        finally
        {
            gate.Dispose();
        }

        async Task WriteStatusAsync(Action<JsonObject> change)
        {
            ct.ThrowIfCancellationRequested();
            await _api.WriteAsync("v1", "Pod", ns, name, o =>
            {
                if ((string?)o["metadata"]?["uid"] != uid)
                {
                    throw ApiException.NotFound("", "pods", name);
                }

                if (o["status"] is not JsonObject status)
                {
                    o["status"] = status = [];
                }

                change(status);
            }, "status", ct);
        }
    }

    private string Now() => Patching.ManagedFields.Rfc3339(_time.GetUtcNow());

    private JsonArray Conditions(bool scheduled, bool initialized, bool ready)
    {
        var now = Now();
        JsonObject C(string type, bool value) => new() { ["type"] = type, ["status"] = value ? "True" : "False", ["lastProbeTime"] = null, ["lastTransitionTime"] = now };
        return [C("PodScheduled", scheduled), C("Initialized", initialized), C("ContainersReady", ready), C("Ready", ready)];
    }

    private static JsonObject Base(JsonObject c) => new()
    {
        ["name"] = (string?)c["name"],
        ["image"] = (string?)c["image"],
        ["imageID"] = "",
        ["restartCount"] = 0,
    };

    private static JsonObject Waiting(JsonObject c, string reason)
    {
        var s = Base(c);
        s["ready"] = false;
        s["started"] = false;
        s["state"] = new JsonObject { ["waiting"] = new JsonObject { ["reason"] = reason } };
        s["lastState"] = new JsonObject();
        return s;
    }

    private static JsonObject Running(JsonObject c, string startedAt, string uid)
    {
        var s = Base(c);
        s["containerID"] = $"emulator://{uid}/{(string?)c["name"]}";
        s["ready"] = true;
        s["started"] = true;
        s["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = startedAt } };
        s["lastState"] = new JsonObject();
        return s;
    }

    private static JsonObject Terminated(JsonObject c, ContainerOutcome outcome, string startedAt, string finishedAt, string uid)
    {
        var s = Base(c);
        var id = $"emulator://{uid}/{(string?)c["name"]}";
        s["containerID"] = id;
        s["ready"] = false;
        s["started"] = false;
        var terminated = new JsonObject
        {
            ["exitCode"] = outcome.ExitCode,
            ["reason"] = outcome.EffectiveReason,
            ["startedAt"] = startedAt,
            ["finishedAt"] = finishedAt,
            ["containerID"] = id,
        };
        if (!string.IsNullOrEmpty(outcome.Message))
        {
            terminated["message"] = outcome.Message;
        }

        s["state"] = new JsonObject { ["terminated"] = terminated };
        s["lastState"] = new JsonObject();
        return s;
    }
}
