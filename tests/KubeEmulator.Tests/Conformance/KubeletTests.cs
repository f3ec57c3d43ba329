using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Kubelet;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>The simulated kubelet: scripted phases on a fake clock, exit codes, termination messages, immediate mode, custom runtimes.</summary>
public sealed class KubeletTests : IAsyncLifetime
{
    private readonly EmulatorHost _host = new();

    public Task InitializeAsync() => _host.InitializeAsync();

    public Task DisposeAsync() => _host.DisposeAsync();

    [Fact]
    public async Task Scripted_pod_runs_for_fake_seconds_then_succeeds()
    {
        _host.Api.Kubelet.Script.When("train-*", TimeSpan.FromSeconds(30), exitCode: 0, message: "done");
        _host.Api.Kubelet.Start();
        await _host.Api.CreateAsync(Pod("train-0", withInit: true));

        var running = await PhaseAsync("train-0", "Running");
        Assert.Equal(0, (int)running["status"]!["initContainerStatuses"]![0]!["state"]!["terminated"]!["exitCode"]!);
        Assert.NotNull(running["status"]!["containerStatuses"]![0]!["state"]!["running"]);
        Assert.True((bool)running["status"]!["containerStatuses"]![0]!["ready"]!);

        _host.Time.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(50);
        Assert.Equal("Running", Phase("train-0"));

        _host.Time.Advance(TimeSpan.FromSeconds(1));
        var done = await PhaseAsync("train-0", "Succeeded");
        var terminated = done["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!;
        Assert.Equal(0, (int)terminated["exitCode"]!);
        Assert.Equal("Completed", (string?)terminated["reason"]);
        Assert.Equal("done", (string?)terminated["message"]);
    }

    [Fact]
    public async Task Failing_container_fails_the_pod_with_exit_code_and_message()
    {
        _host.Api.Kubelet.Script.When("bad-*", TimeSpan.FromSeconds(5), exitCode: 137, message: "OOMKilled: out of memory");
        _host.Api.Kubelet.Start();
        await _host.Api.CreateAsync(Pod("bad-1"));
        await PhaseAsync("bad-1", "Running");
        _host.Time.Advance(TimeSpan.FromSeconds(5));

        var failed = await PhaseAsync("bad-1", "Failed");
        var terminated = failed["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!;
        Assert.Equal(137, (int)terminated["exitCode"]!);
        Assert.Equal("Error", (string?)terminated["reason"]);
        Assert.Equal("OOMKilled: out of memory", (string?)terminated["message"]);
    }

    [Fact]
    public async Task Failing_init_container_fails_the_pod_before_main_containers_start()
    {
        _host.Api.Kubelet.Script.When("init-*", TimeSpan.Zero, exitCode: 1, message: "download failed", containerName: "fetch");
        _host.Api.Kubelet.Start();
        await _host.Api.CreateAsync(Pod("init-1", withInit: true));
        var failed = await PhaseAsync("init-1", "Failed");
        Assert.Equal("download failed", (string?)failed["status"]!["initContainerStatuses"]![0]!["state"]!["terminated"]!["message"]);
        Assert.NotNull(failed["status"]!["containerStatuses"]![0]!["state"]!["waiting"]);
    }

    [Fact]
    public async Task Immediate_mode_completes_pods_without_advancing_time()
    {
        _host.Api.Kubelet.Script.Immediately(exitCode: 0);
        await _host.Api.CreateAsync(Pod("quick"));
        _host.Api.Kubelet.Start();
        await PhaseAsync("quick", "Succeeded");
    }

    [Fact]
    public async Task Deleting_a_running_pod_stops_it()
    {
        _host.Api.Kubelet.Start();
        await _host.Api.CreateAsync(Pod("forever"));
        await PhaseAsync("forever", "Running");
        await _host.Api.DeleteAsync("v1", "Pod", "default", "forever");
        await Eventually.ValueAsync(() => (int?)_host.Api.Kubelet.ActivePods, n => n == 0, "the kubelet to let go of the pod");
    }

    [Fact]
    public async Task A_custom_runtime_decides_container_outcomes()
    {
        var runtime = new RecordingRuntime();
        _host.Api.Kubelet.Runtime = runtime;
        _host.Api.Kubelet.Start();
        await _host.Api.CreateAsync(Pod("custom", withInit: true));
        var done = await PhaseAsync("custom", "Failed");
        Assert.Equal(["fetch:init", "main:main"], runtime.Started);
        Assert.Equal(42, (int)done["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!["exitCode"]!);
    }

    private sealed class RecordingRuntime : IPodRuntime
    {
        public List<string> Started { get; } = [];

        public Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
        {
            lock (Started)
            {
                Started.Add($"{(string?)container["name"]}:{(isInit ? "init" : "main")}");
            }

            return Task.FromResult(new ContainerOutcome(isInit ? 0 : 42, "custom"));
        }
    }

    private string? Phase(string name) => (string?)_host.Api.GetObject("v1", "Pod", "default", name)?["status"]?["phase"];

    private Task<JsonObject> PhaseAsync(string name, string phase) =>
        Eventually.ValueAsync(() => _host.Api.GetObject("v1", "Pod", "default", name), p => (string?)p["status"]?["phase"] == phase, $"pod {name} to be {phase}");

    private static JsonObject Pod(string name, bool withInit = false)
    {
        var spec = new JsonObject
        {
            ["restartPolicy"] = "Never",
            ["containers"] = new JsonArray(new JsonObject { ["name"] = "main", ["image"] = "trainer:1" }),
        };
        if (withInit)
        {
            spec["initContainers"] = new JsonArray(new JsonObject { ["name"] = "fetch", ["image"] = "agent:1" });
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default" },
            ["spec"] = spec,
        };
    }
}
