using System.Text.Json.Nodes;
using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Kubelet;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;
using Ferry.Operator.Tests.Fixtures;
using Ferry.Operator.Tests.Local;

namespace Ferry.Operator.Tests.Containers;

/// <summary>
/// The emulator's container kubelet (<see cref="ContainerPodRuntime"/>): pods run for real with podman. First the
/// operator's own pods (the operator image's agent, the trainer image training 2 ranks, the model in moto_server S3; a
/// failure file becoming the job's failure reason through the termination message), then the kubelet's behaviour on hand-written pods: exit codes, termination messages, the downward API, `$(VAR)`
/// expansion, emptyDir volumes (in memory), SIGTERM on delete, headless Service names, and refusals.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class ContainerKubeletTests(MotoS3 moto) : IDisposable
{
    private static readonly TimeSpan Guard = TimeSpan.FromMinutes(5);
    private readonly LocalRun _run = new("ferry-container-kubelet-");

    public void Dispose() => _run.Dispose();

    [ContainerFact]
    public async Task The_operators_pods_train_two_ranks_in_containers_and_the_model_lands_in_s3()
    {
        var bucket = await moto.CreateBucketAsync();
        await moto.PutFilesAsync(bucket, "data/", "/usr/share/datasets/fashion-mnist", "*.gz");

        var job = ManifestLoader.Load($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: kubelet-containers
            spec:
              backend: Local
              image: {{ContainerImages.Trainer}}
              inputs:
                - name: train
                  uri: s3://{{bucket}}/data
                - name: test
                  uri: s3://{{bucket}}/data
              output:
                uri: s3://{{bucket}}/artifacts
              resources:
                replicas: 2
              hyperParameters:
                model: mlp
                hidden_units: "32"
                epochs: "1"
                max_train_samples: "1024"
                max_test_samples: "256"
            """, "job.yaml");
        // Loaded (defaults applied) as `ferry run` loads a manifest, then submitted for the InCluster backend.
        job.Spec.Backend = TrainingJobBackend.InCluster;
        var options = new InClusterOptions { AgentImage = ContainerImages.Operator, AgentEnvironment = moto.ProcessEnvironment, StopGracePeriod = TimeSpan.FromSeconds(10) };
        await using var harness = await OperatorHarness.StartAsync(options: options);
        // No pod exists yet: every pod of this test runs in containers.
        await using var runtime = new ContainerPodRuntime(harness.Api, new ContainerPodRuntimeOptions { WorkDirectory = _run.PathOf("kubelet") });
        harness.Api.Kubelet.Runtime = runtime;
        await harness.ApplyAsync(job);

        var done = await harness.ReconcileUntilAsync("kubelet-containers", (j, _) => j?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed, timeoutSeconds: (int)Guard.TotalSeconds);

        var log = string.Join('\n', runtime.Logs);
        Assert.True(done!.Status!.Phase == TrainingJobPhase.Succeeded, done.Status.FailureReason + "\n" + log);
        Assert.Contains("kubelet-containers-0/train: gradients are averaged over tcp", log, StringComparison.Ordinal);
        Assert.Contains("kubelet-containers-1/ferry-init: ", log, StringComparison.Ordinal);
        foreach (var pod in await harness.PodsOfAsync("kubelet-containers"))
        {
            Assert.Equal(0, pod.Status.InitContainerStatuses.Single().State.Terminated.ExitCode);
            Assert.Equal(0, pod.Status.ContainerStatuses.Single().State.Terminated.ExitCode);
        }

        Assert.Equal($"s3://{bucket}/artifacts/kubelet-containers/output/model.tar.gz", done.Status.Artifacts!.Model);
        var archive = _run.PathOf("model.tar.gz");
        await File.WriteAllBytesAsync(archive, await moto.GetBytesAsync(bucket, "artifacts/kubelet-containers/output/model.tar.gz"));
        var entries = await LocalRun.ReadArchiveAsync(archive);
        Assert.Equal(["model.json", "model.pt"], entries.Keys.Order(StringComparer.Ordinal));
    }

    [ContainerFact]
    public async Task A_failure_file_in_a_container_reaches_the_jobs_failure_reason_through_the_termination_message()
    {
        var bucket = await moto.CreateBucketAsync();
        var job = ManifestLoader.Load($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: kubelet-failure
            spec:
              backend: Local
              image: {{ContainerImages.Trainer}}
              command: ["/bin/sh", "-c", "if [ \"$RANK\" = 1 ]; then printf 'Dataset shard is empty on %s' \"$SM_CURRENT_HOST\" > /opt/ml/output/failure; exit 4; fi; sleep 300"]
              output:
                uri: s3://{{bucket}}/artifacts
              resources:
                replicas: 2
              maxRetries: 0
            """, "job.yaml");
        job.Spec.Backend = TrainingJobBackend.InCluster;
        var options = new InClusterOptions { AgentImage = ContainerImages.Operator, AgentEnvironment = moto.ProcessEnvironment, StopGracePeriod = TimeSpan.FromSeconds(5) };
        await using var harness = await OperatorHarness.StartAsync(options: options);
        await using var runtime = new ContainerPodRuntime(harness.Api, new ContainerPodRuntimeOptions { WorkDirectory = _run.PathOf("kubelet") });
        harness.Api.Kubelet.Runtime = runtime;
        await harness.ApplyAsync(job);

        // Rank 0 sleeps on: fake time moves on so the operator's wait for the gang to settle (30 s) runs out.
        var done = await harness.ReconcileUntilAsync("kubelet-failure", (j, _) => j?.Status?.Phase is TrainingJobPhase.Succeeded or TrainingJobPhase.Failed,
            step: TimeSpan.FromSeconds(1), timeoutSeconds: (int)Guard.TotalSeconds);

        Assert.True(done!.Status!.Phase == TrainingJobPhase.Failed, done.Status.Phase + "\n" + string.Join('\n', runtime.Logs));
        Assert.Equal("Dataset shard is empty on algo-2", done.Status.FailureReason);
        var failed = (await harness.PodsOfAsync("kubelet-failure")).Single(p => p.Metadata.Name == "kubelet-failure-1");
        Assert.Equal(4, failed.Status.ContainerStatuses.Single().State.Terminated.ExitCode);
        Assert.Contains("Dataset shard is empty on algo-2", failed.Status.ContainerStatuses.Single().State.Terminated.Message, StringComparison.Ordinal);
    }

    [ContainerFact]
    public async Task A_pod_gets_its_env_volumes_and_termination_message_and_its_exit_code_is_reported()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        await using var runtime = Start(api);
        // The init container leaves a file in each emptyDir; the main container reports what it sees and exits 3.
        await api.CreateAsync(Pod("reporter", """
            {
              "restartPolicy": "Never",
              "securityContext": { "runAsNonRoot": true, "fsGroup": 2000 },
              "volumes": [ { "name": "scratch", "emptyDir": {} }, { "name": "shm", "emptyDir": { "medium": "Memory" } } ],
              "initContainers": [ {
                "name": "prepare", "image": "IMAGE", "command": ["/bin/sh", "-c", "echo disk > /scratch/a && echo memory > /shm/b"],
                "volumeMounts": [ { "name": "scratch", "mountPath": "/scratch" }, { "name": "shm", "mountPath": "/shm" } ]
              } ],
              "containers": [ {
                "name": "report", "image": "IMAGE",
                "command": ["/bin/sh", "-c"],
                "args": ["printf 'ip=%s name=%s ns=%s uid=%s label=%s greeting=%s files=%s,%s shm=%s groups=%s' \"$POD_IP\" \"$POD_NAME\" \"$POD_NAMESPACE\" \"$POD_UID\" \"$ROLE\" \"$(GREETING)\" \"$(cat /scratch/a)\" \"$(cat /shm/b)\" \"$(awk '$2 == \"/shm\" {print $3}' /proc/mounts)\" \"$(id -G)\" > /dev/termination-log; exit 3"],
                "env": [
                  { "name": "POD_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } },
                  { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                  { "name": "POD_NAMESPACE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } },
                  { "name": "POD_UID", "valueFrom": { "fieldRef": { "fieldPath": "metadata.uid" } } },
                  { "name": "ROLE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.labels['role']" } } },
                  { "name": "WHO", "value": "world" },
                  { "name": "GREETING", "value": "hello-$(WHO)" }
                ],
                "volumeMounts": [ { "name": "scratch", "mountPath": "/scratch" }, { "name": "shm", "mountPath": "/shm" } ]
              } ]
            }
            """));

        var pod = await FinishedAsync(api, "reporter");

        Assert.True((string?)pod["status"]!["phase"] == "Failed", pod.ToJsonString() + "\n" + string.Join('\n', runtime.Logs));
        var terminated = pod["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!;
        Assert.Equal(3, (int)terminated["exitCode"]!);
        Assert.Equal("Error", (string?)terminated["reason"]);
        var ip = (string)pod["status"]!["podIP"]!;
        var uid = (string)pod["metadata"]!["uid"]!;
        Assert.Matches(@"^127\.\d+\.\d+\.\d+$", ip);
        Assert.Equal($"ip={ip} name=reporter ns=default uid={uid} label=reporter greeting=hello-world files=disk,memory shm=tmpfs groups=1000 2000", (string?)terminated["message"]);
        Assert.Equal(0, (int)pod["status"]!["initContainerStatuses"]![0]!["state"]!["terminated"]!["exitCode"]!);
    }

    [ContainerFact]
    public async Task A_failed_container_without_a_message_reports_the_end_of_its_log_when_the_policy_says_so()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        await using var runtime = Start(api);
        await api.CreateAsync(Pod("fallback", """
            {
              "restartPolicy": "Never",
              "containers": [ {
                "name": "fail", "image": "IMAGE", "terminationMessagePolicy": "FallbackToLogsOnError",
                "command": ["/bin/sh", "-c", "echo first; echo 'dataset not found' >&2; exit 7"]
              } ]
            }
            """));

        var terminated = (await FinishedAsync(api, "fallback"))["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!;

        Assert.Equal(7, (int)terminated["exitCode"]!);
        Assert.Contains("dataset not found", (string?)terminated["message"], StringComparison.Ordinal);
    }

    [ContainerFact]
    public async Task Pods_reach_each_other_by_the_headless_services_names()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        await using var runtime = Start(api);
        await api.CreateAsync(JsonNode.Parse("""
            { "apiVersion": "v1", "kind": "Service", "metadata": { "name": "workers", "namespace": "default" },
              "spec": { "clusterIP": "None", "selector": { "role": "server" }, "ports": [ { "port": 8080 } ] } }
            """)!.AsObject());
        // algo-1 serves one line on its pod IP; algo-2 looks it up by the short name its DNS search list makes and connects.
        await api.CreateAsync(Pod("server", """
            {
              "hostname": "algo-1", "subdomain": "workers", "restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
              "containers": [ {
                "name": "serve", "image": "IMAGE",
                "command": ["perl", "-MIO::Socket::INET", "-e", "SERVE"],
                "env": [ { "name": "POD_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } } ]
              } ]
            }
            """, role: "server", script: Serve));
        await api.CreateAsync(Pod("client", """
            {
              "hostname": "algo-2", "subdomain": "workers", "restartPolicy": "Never",
              "dnsConfig": { "searches": ["workers.default.svc.cluster.local"] },
              "containers": [ {
                "name": "connect", "image": "IMAGE",
                "command": ["bash", "-c", "CONNECT"]
              } ]
            }
            """, role: "server", script: Connect));

        var client = await FinishedAsync(api, "client");
        var server = await FinishedAsync(api, "server");

        var log = string.Join('\n', runtime.Logs);
        Assert.True((string?)client["status"]!["phase"] == "Succeeded", client.ToJsonString() + "\n" + log);
        Assert.Equal($"algo-2 got: hello from algo-1 via {(string)server["status"]!["podIP"]!}", (string?)client["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!["message"]);
        Assert.Equal("Succeeded", (string?)server["status"]!["phase"]);
    }

    [ContainerFact]
    public async Task Deleting_a_pod_sends_sigterm_to_its_containers_and_removes_them()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        await using var runtime = Start(api);
        await api.CreateAsync(Pod("sleeper", """
            {
              "restartPolicy": "Never", "terminationGracePeriodSeconds": 120,
              "containers": [ {
                "name": "sleep", "image": "IMAGE",
                "command": ["/bin/sh", "-c", "trap 'echo got SIGTERM; exit 0' TERM; echo started; while true; do sleep 0.2; done"]
              } ]
            }
            """));
        await UntilAsync(() => runtime.Logs.Contains("sleeper/sleep: started"));

        await api.DeleteAsync("v1", "Pod", "default", "sleeper");

        await UntilAsync(() => runtime.Logs.Contains("sleeper/sleep: got SIGTERM"));
        // Stopping the kubelet waits for the runs of deleted pods, as a node drains: the container is stopped and removed by then.
        await api.Kubelet.StopAsync();
        var engine = ContainerEngine.Find() ?? throw new InvalidOperationException("no podman or docker on PATH");
        var (_, names, _) = await engine.RunAsync(["ps", "--all", "--format", "{{.Names}}"], CancellationToken.None);
        Assert.DoesNotContain("_sleeper_default_", names, StringComparison.Ordinal);
    }

    [ContainerFact]
    public async Task A_root_user_under_run_as_non_root_and_an_image_not_in_the_store_fail_with_a_reason()
    {
        await using var api = await KubeApiEmulator.StartAsync();
        await using var runtime = Start(api);
        await api.CreateAsync(Pod("as-root", """
            { "restartPolicy": "Never", "securityContext": { "runAsNonRoot": true },
              "containers": [ { "name": "c", "image": "IMAGE", "command": ["true"], "securityContext": { "runAsUser": 0 } } ] }
            """));
        await api.CreateAsync(Pod("no-image", """
            { "restartPolicy": "Never", "containers": [ { "name": "c", "image": "localhost/ferry-absent:never", "command": ["true"] } ] }
            """));

        var root = (await FinishedAsync(api, "as-root"))["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!;
        var absent = (await FinishedAsync(api, "no-image"))["status"]!["containerStatuses"]![0]!["state"]!["terminated"]!;

        Assert.Equal("CreateContainerConfigError", (string?)root["reason"]);
        Assert.Contains("runAsNonRoot", (string?)root["message"], StringComparison.Ordinal);
        Assert.Equal("ErrImageNeverPull", (string?)absent["reason"]);
        Assert.Contains("localhost/ferry-absent:never", (string?)absent["message"], StringComparison.Ordinal);
    }

    private ContainerPodRuntime Start(KubeApiEmulator api)
    {
        var runtime = new ContainerPodRuntime(api, new ContainerPodRuntimeOptions { WorkDirectory = _run.PathOf("kubelet-" + Guid.NewGuid().ToString("N")[..8]) });
        api.Kubelet.Runtime = runtime;
        api.Kubelet.Start();
        return runtime;
    }

    // A pod of the trainer image (a Debian with sh, bash and perl; user 1000) in the default namespace.
    private const string Serve = "my $s = IO::Socket::INET->new(LocalAddr => $ENV{POD_IP}, LocalPort => 18080, Listen => 1, ReuseAddr => 1) or die $!; my $c = $s->accept; print $c \"hello from algo-1\\n\"; close $c;";

    private const string Connect = "for i in $(seq 600); do exec 3<>/dev/tcp/algo-1/18080 && break; sleep 0.2; done 2>/dev/null; read -r line <&3; "
        + "printf '%s got: %s via %s' \"$(hostname)\" \"$line\" \"$(getent hosts algo-1.workers.default.svc.cluster.local | awk '{print $1}')\" > /dev/termination-log";

    // SERVE and CONNECT in a command stand for the scripts above (JSON-escaped).
    private static JsonObject Pod(string name, string spec, string? role = null, string? script = null) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Pod",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default", ["labels"] = new JsonObject { ["role"] = role ?? name } },
        ["spec"] = JsonNode.Parse(spec
            .Replace("\"IMAGE\"", $"\"{ContainerImages.Trainer}\"", StringComparison.Ordinal)
            .Replace("\"SERVE\"", System.Text.Json.JsonSerializer.Serialize(script), StringComparison.Ordinal)
            .Replace("\"CONNECT\"", System.Text.Json.JsonSerializer.Serialize(script), StringComparison.Ordinal)),
    };

    private static async Task<JsonObject> FinishedAsync(KubeApiEmulator api, string name)
    {
        JsonObject? pod = null;
        await UntilAsync(() => (string?)(pod = api.GetObject("v1", "Pod", "default", name))?["status"]?["phase"] is "Succeeded" or "Failed");
        return pod!;
    }

    // Polls state the containers change in real time; the deadline only guards against a hang.
    private static async Task UntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Guard);
        while (!condition())
        {
            await Task.Delay(50, timeout.Token);
        }
    }
}
