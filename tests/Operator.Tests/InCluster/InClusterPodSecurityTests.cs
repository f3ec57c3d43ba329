using System.Diagnostics;
using Ferry.Crds.Serialization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Contract;
using k8s;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>The training pods pass the Pod Security restricted level, and a user-chosen identity can write /opt/ml.</summary>
public sealed class InClusterPodSecurityTests
{
    private static readonly InClusterOptions Options = new()
    {
        AgentImage = "registry.local/ferry-operator:1.2.3",
        SpotTolerations = [new V1Toleration { Key = "spot", OperatorProperty = "Exists", Effect = "NoSchedule" }],
    };

    private static void AssertRestricted(V1Pod pod, string what)
    {
        var violations = PodSecurityRestricted.Violations(pod);
        Assert.True(violations.Count == 0, $"{what}: {string.Join("; ", violations)}");
    }

    public static TheoryData<string> Samples()
    {
        var directory = Path.Combine(LocalPrograms.RepositoryRoot(AppContext.BaseDirectory)!, "config", "samples");
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(directory, "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Every_samples_pods_pass_the_restricted_level(string sample)
    {
        var path = Path.Combine(LocalPrograms.RepositoryRoot(AppContext.BaseDirectory)!, "config", "samples", sample);
        var job = KubernetesJson.Deserialize<TrainingJob>(ManifestYaml.Parse(File.ReadAllText(path))!.ToJsonString());
        job.Metadata.NamespaceProperty ??= "team-a";
        job.Metadata.Uid = "uid-sample";
        job.Spec.Image ??= "ghcr.io/ferry-dev/ferry-trainer:0.1.0";
        var replicas = job.Spec.Resources?.Replicas ?? 1;
        Assert.InRange(replicas, 1, 64);
        for (var index = 0; index < replicas; index++)
        {
            AssertRestricted(InClusterPodBuilder.Pod(job, index, 1, Options), $"{sample} replica {index}");
        }
    }

    // Every combination of the options that shape the pod.
    public static TheoryData<bool, bool, bool, bool, bool> Combinations()
    {
        var data = new TheoryData<bool, bool, bool, bool, bool>();
        for (var bits = 0; bits < 32; bits++)
        {
            data.Add((bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0, (bits & 16) != 0);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Pods_pass_the_restricted_level_with_any_combination_of_options(bool spot, bool gpus, bool shm, bool pull, bool identity)
    {
        var job = Job("combo").WithReplicas(2).With(j =>
        {
            j.Spec.Spot = spot;
            j.Spec.Resources!.GpusPerReplica = gpus ? 8 : 0;
            j.Spec.Resources.Memory = gpus ? "64Gi" : null;
            j.Spec.Inputs = [new InputChannel { Name = "train", Uri = "s3://data/train" }];
            j.Spec.Checkpoint = new CheckpointSpec { Uri = "s3://bucket/ckpt" };
            j.Spec.InCluster = new InClusterSpec
            {
                ShmSize = shm ? "16Gi" : null,
                ImagePullSecrets = pull ? [new ImagePullSecret { Name = "registry" }] : null,
                ImagePullPolicy = pull ? ImagePullPolicy.Always : null,
                SecurityContext = identity ? new InClusterSecurityContext { RunAsUser = 1000, RunAsGroup = 100, FsGroup = 2000 } : null,
            };
        });

        for (var index = 0; index < 2; index++)
        {
            AssertRestricted(InClusterPodBuilder.Pod(job, index, 1, Options), $"spot={spot} gpus={gpus} shm={shm} pull={pull} identity={identity}");
        }
    }

    [Fact]
    public void Defaults_are_non_root_with_seccomp_no_escalation_no_capabilities_and_a_shared_fs_group()
    {
        var spec = InClusterPodBuilder.Pod(Job().Build(), 0, 1, Options).Spec;
        var pod = spec.SecurityContext;
        Assert.Equal((true, "RuntimeDefault", 65532L, (long?)null, (long?)null), (pod.RunAsNonRoot, pod.SeccompProfile.Type, pod.FsGroup, pod.RunAsUser, pod.RunAsGroup));

        var init = spec.InitContainers.Single().SecurityContext;
        Assert.Equal((65532L, 65532L), (init.RunAsUser, init.RunAsGroup));
        var train = spec.Containers.Single();
        Assert.Equal(((long?)null, (long?)null), (train.SecurityContext.RunAsUser, train.SecurityContext.RunAsGroup));
        Assert.Null(train.ImagePullPolicy);
        Assert.Null(spec.ImagePullSecrets);
        foreach (var context in new[] { init, train.SecurityContext })
        {
            Assert.Equal((false, true), (context.AllowPrivilegeEscalation, context.RunAsNonRoot));
            Assert.Equal(["ALL"], context.Capabilities.Drop);
            Assert.Null(context.Capabilities.Add);
        }

        var shm = spec.Volumes.Single(v => v.Name == "dshm").EmptyDir;
        Assert.Equal("Memory", shm.Medium);
        Assert.Null(shm.SizeLimit);
        Assert.Contains(train.VolumeMounts, m => (m.Name, m.MountPath) == ("dshm", "/dev/shm"));
    }

    [Fact]
    public void Shm_size_pull_secrets_pull_policy_and_identity_come_from_spec_in_cluster()
    {
        var job = Job().With(j => j.Spec.InCluster = new InClusterSpec
        {
            ShmSize = "8Gi",
            ImagePullSecrets = [new ImagePullSecret { Name = "ghcr" }, new ImagePullSecret { Name = "ecr" }],
            ImagePullPolicy = ImagePullPolicy.IfNotPresent,
            SecurityContext = new InClusterSecurityContext { RunAsUser = 1000, RunAsGroup = 1000, FsGroup = 3000 },
        });

        var spec = InClusterPodBuilder.Pod(job, 0, 1, Options).Spec;

        Assert.Equal("8Gi", spec.Volumes.Single(v => v.Name == "dshm").EmptyDir.SizeLimit.ToString());
        Assert.Equal(["ghcr", "ecr"], spec.ImagePullSecrets.Select(s => s.Name));
        Assert.Equal("IfNotPresent", spec.Containers.Single().ImagePullPolicy);
        Assert.Null(spec.InitContainers.Single().ImagePullPolicy);
        Assert.Equal((1000L, 1000L, 3000L, true), (spec.SecurityContext.RunAsUser, spec.SecurityContext.RunAsGroup, spec.SecurityContext.FsGroup, spec.SecurityContext.RunAsNonRoot));
        // The training container inherits the pod's identity; the init container keeps the operator image's user.
        Assert.Null(spec.Containers.Single().SecurityContext.RunAsUser);
        Assert.Equal(65532L, spec.InitContainers.Single().SecurityContext.RunAsUser);
    }

    /// <summary>
    /// The pod as a kubelet would run it, on this machine: the emptyDir `/opt/ml` belongs to root and the fsGroup,
    /// mode 2777 (what the kubelet gives an emptyDir of a pod with an fsGroup); the real `ferry agent init` runs with
    /// the init container's UID/GID and the fsGroup as supplementary group and downloads a checkpoint; then
    /// `ferry agent exec` runs a training script with the user-chosen runAsUser/runAsGroup, which writes its model,
    /// output and failure file and overwrites the checkpoint; the agent uploads the model. A UID outside the fsGroup
    /// is refused the same writes, so the access comes from the group, not from world-writable files.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_user_chosen_uid_and_fs_group_can_write_what_the_init_container_prepared()
    {
        Assert.True(Environment.UserName == "root",
            "this test switches users with setpriv the way a kubelet starts containers and needs root; run the tests as root (CI does)");
        var scratch = Directory.CreateTempSubdirectory("ferry-identity-");
        try
        {
            var root = scratch.FullName;
            File.SetUnixFileMode(root, (UnixFileMode)Convert.ToInt32("755", 8));
            var checkpointSource = Directory.CreateDirectory(Path.Combine(root, "ckpt")).FullName;
            await File.WriteAllTextAsync(Path.Combine(checkpointSource, "step-1.pt"), "old");
            File.SetUnixFileMode(checkpointSource, (UnixFileMode)Convert.ToInt32("777", 8));
            var output = Directory.CreateDirectory(Path.Combine(root, "out")).FullName;
            File.SetUnixFileMode(output, (UnixFileMode)Convert.ToInt32("777", 8));
            var logs = Directory.CreateDirectory(Path.Combine(root, "logs")).FullName;
            File.SetUnixFileMode(logs, (UnixFileMode)Convert.ToInt32("777", 8));

            var job = Job("identity").With(j =>
            {
                j.Spec.Checkpoint = new CheckpointSpec { Uri = "file://" + checkpointSource };
                j.Spec.Output = new OutputSpec { Uri = "file://" + output };
                j.Spec.InCluster = new InClusterSpec { SecurityContext = new InClusterSecurityContext { RunAsUser = 2001, RunAsGroup = 3001, FsGroup = 4001 } };
            });
            var pod = InClusterPodBuilder.Pod(job, 0, 1, Options);
            AssertRestricted(pod, "identity pod");
            var fsGroup = pod.Spec.SecurityContext.FsGroup!.Value;
            var initContext = pod.Spec.InitContainers.Single().SecurityContext;
            var trainUser = pod.Spec.SecurityContext.RunAsUser!.Value;
            var trainGroup = pod.Spec.SecurityContext.RunAsGroup!.Value;

            // The kubelet's emptyDir for a pod with an fsGroup.
            var optMl = Directory.CreateDirectory(Path.Combine(root, "opt-ml")).FullName;
            Assert.Equal(0, (await RunAsync(["chown", $"0:{fsGroup}", optMl], null, null)).Exit);
            File.SetUnixFileMode(optMl, (UnixFileMode)Convert.ToInt32("2777", 8));

            var environment = pod.Spec.InitContainers.Single().Env.ToDictionary(e => e.Name, e => e.Value);
            environment[ContainerContract.RootVariable] = optMl;
            environment["HOME"] = logs;
            var ferry = Path.Combine(AppContext.BaseDirectory, "ferry.dll");

            environment[AgentSettings.TerminationLogVariable] = Path.Combine(logs, "init.termination-log");
            var init = await RunAsync(["dotnet", ferry, "agent", "init"], environment, (initContext.RunAsUser!.Value, initContext.RunAsGroup!.Value, fsGroup));
            Assert.True(init.Exit == 0, init.Output);

            const string Training = """
                set -e
                echo weights > "$SM_MODEL_DIR/model.bin"
                echo report > "$SM_OUTPUT_DATA_DIR/report.txt"
                echo partial > "$SM_OUTPUT_INTERMEDIATE_DIR/partial.txt"
                echo new > "$FERRY_OPT_ML/checkpoints/step-1.pt"
                mkdir "$FERRY_OPT_ML/checkpoints/epoch-2"
                echo written > "$FERRY_OPT_ML/output/written"
                """;
            environment[AgentSettings.TerminationLogVariable] = Path.Combine(logs, "train.termination-log");
            var train = await RunAsync(["dotnet", ferry, "agent", "exec", "--", "sh", "-c", Training], environment, (trainUser, trainGroup, fsGroup));
            Assert.True(train.Exit == 0, train.Output);
            Assert.Equal("new\n", await File.ReadAllTextAsync(Path.Combine(optMl, "checkpoints", "step-1.pt")));
            Assert.True(File.Exists(Path.Combine(output, "identity", "output", "model.tar.gz")), train.Output);

            // Control: the same writes by a UID that is not in the fsGroup are refused.
            var stranger = await RunAsync(["sh", "-c", "echo weights > \"$FERRY_OPT_ML/model/other.bin\""], environment, (5005, 5005, null));
            Assert.NotEqual(0, stranger.Exit);
            Assert.Contains("Permission denied", stranger.Output, StringComparison.Ordinal);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    /// <summary>Runs a command, as another user when <paramref name="identity"/> is given (setpriv, as a container runtime sets them).</summary>
    private static async Task<(int Exit, string Output)> RunAsync(IReadOnlyList<string> command, IDictionary<string, string>? environment, (long Uid, long Gid, long? Group)? identity)
    {
        var start = new ProcessStartInfo(identity is null ? command[0] : "setpriv") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (identity is { } id)
        {
            start.ArgumentList.Add($"--reuid={id.Uid}");
            start.ArgumentList.Add($"--regid={id.Gid}");
            start.ArgumentList.Add(id.Group is { } group ? $"--groups={group}" : "--clear-groups");
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(command[0]);
        }

        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        start.WorkingDirectory = Path.GetTempPath();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
