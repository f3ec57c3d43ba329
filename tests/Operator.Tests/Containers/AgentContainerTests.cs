using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;
using Ferry.Operator.Tests.Fixtures;
using Ferry.Operator.Tests.Local;
using k8s.Models;

namespace Ferry.Operator.Tests.Containers;

/// <summary>
/// The pod the InCluster backend makes, run by hand with podman as a kubelet would: the operator image's agent as the
/// init container (copies itself into the shared volume, downloads the channels from S3 — moto_server), then the
/// trainer image running `train` through that copy of the agent, which uploads model.tar.gz.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AgentContainerTests(MotoS3 moto) : IDisposable
{
    private readonly LocalRun _run = new("ferry-agent-containers-");

    public void Dispose() => _run.Dispose();

    [ContainerFact]
    public async Task The_init_container_installs_the_agent_and_downloads_the_channels_and_train_runs_through_it()
    {
        var bucket = await moto.CreateBucketAsync();
        await moto.PutFilesAsync(bucket, "data/", "/usr/share/datasets/fashion-mnist", "*.gz");

        var job = ManifestLoader.Load($$"""
            apiVersion: ferry.dev/v1alpha1
            kind: TrainingJob
            metadata:
              name: agent-in-containers
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
                replicas: 1
              hyperParameters:
                model: mlp
                hidden_units: "32"
                epochs: "1"
                max_train_samples: "1024"
                max_test_samples: "256"
            """, "job.yaml");
        // Loaded (defaults applied) as `ferry run` loads a manifest, then handed to the InCluster pod builder.
        job.Spec.Backend = Crds.V1Alpha1.TrainingJobBackend.InCluster;
        job.Metadata.Uid = "6f1c2a9e-0000-4000-8000-000000000001";
        var options = new InClusterOptions { AgentImage = ContainerImages.Operator, AgentEnvironment = moto.ProcessEnvironment };
        var pod = InClusterPodBuilder.Pod(job, index: 0, attempt: 1, options);

        // The pod's volumes as a kubelet makes them: empty directories owned by the fsGroup, group-writable, setgid.
        var fsGroup = pod.Spec.SecurityContext.FsGroup!.Value;
        var volumes = new Dictionary<string, string>();
        foreach (var volume in pod.Spec.Volumes.Where(v => v.Name != InClusterPodBuilder.SharedMemoryVolume))
        {
            var path = Directory.CreateDirectory(_run.PathOf("volumes/" + volume.Name)).FullName;
            await ExecAsync("chown", $"0:{fsGroup}", path);
            await ExecAsync("chmod", "2775", path);
            volumes[volume.Name] = path;
        }

        var engine = ContainerEngine.Find() ?? throw new InvalidOperationException("no podman or docker on PATH");
        var init = pod.Spec.InitContainers.Single();
        var (initExit, initLog) = await RunContainerAsync(engine, pod, init, volumes, "init");
        Assert.True(initExit == 0, $"init container exited {initExit}:\n{initLog}");
        Assert.True(File.Exists(Path.Combine(volumes[InClusterPodBuilder.AgentVolume], "ferry")), "the agent copied itself into the shared volume");
        Assert.True(File.Exists(Path.Combine(volumes[InClusterPodBuilder.OptMlVolume], "input/data/train/train-images-idx3-ubyte.gz")), "the train channel was downloaded");
        Assert.True(File.Exists(Path.Combine(volumes[InClusterPodBuilder.OptMlVolume], "input/config/hyperparameters.json")), "the contract's config files were written");

        var training = pod.Spec.Containers.Single();
        Assert.Equal(["/ferry/agent/ferry", "agent", "exec", "--", "train"], training.Command);
        var (exit, log) = await RunContainerAsync(engine, pod, training, volumes, "train");
        Assert.True(exit == 0, $"training container exited {exit}:\n{log}");
        Assert.Matches(@"val_accuracy=0\.\d+", log);

        var archive = _run.PathOf("model.tar.gz");
        await File.WriteAllBytesAsync(archive, await moto.GetBytesAsync(bucket, "artifacts/agent-in-containers/output/model.tar.gz"));
        var entries = await LocalRun.ReadArchiveAsync(archive);
        Assert.Equal(["model.json", "model.pt"], entries.Keys.Order(StringComparer.Ordinal));
    }

    // `podman run` of one of the pod's containers: its image, command (replacing the entrypoint), env, user, the
    // pod's fsGroup as a supplementary group, its volume mounts, and the host network (moto_server is on loopback).
    private async Task<(int Exit, string Log)> RunContainerAsync(ContainerEngine engine, V1Pod pod, V1Container container, Dictionary<string, string> volumes, string name)
    {
        var termination = _run.PathOf($"{name}.termination-log");
        await File.WriteAllTextAsync(termination, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(termination, (UnixFileMode)0b110_110_110);
        }

        var arguments = new List<string>
        {
            "run", "--rm", "--pull=never", "--network=host", "--read-only", "--tmpfs", "/tmp",
            "--name", $"ferry-test-{name}-{Environment.ProcessId}",
            "--group-add", pod.Spec.SecurityContext.FsGroup!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--volume", $"{termination}:{container.TerminationMessagePath}",
        };
        if (container.SecurityContext?.RunAsUser is { } user)
        {
            arguments.AddRange(["--user", $"{user}:{container.SecurityContext.RunAsGroup ?? user}"]);
        }

        foreach (var mount in container.VolumeMounts.Where(m => volumes.ContainsKey(m.Name)))
        {
            arguments.AddRange(["--volume", $"{volumes[mount.Name]}:{mount.MountPath}"]);
        }

        foreach (var variable in container.Env)
        {
            arguments.AddRange(["--env", $"{variable.Name}={variable.Value}"]);
        }

        arguments.AddRange(["--entrypoint", container.Command[0], container.Image, .. container.Command.Skip(1), .. container.Args ?? []]);
        var (exit, output, error) = await engine.RunAsync(arguments, CancellationToken.None);
        return (exit, output + error + "\ntermination message: " + await File.ReadAllTextAsync(termination));
    }

    private static async Task ExecAsync(string program, params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
    }
}
