using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;

namespace Ferry.Operator.Tests.Containers;

/// <summary>The command line container mode runs per replica, and how the mode is chosen (no container engine needed).</summary>
public sealed class ContainerReplicaCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ferry-container-command-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static TrainingJob Job(string extra = "") => ManifestLoader.Load($$"""
        apiVersion: ferry.dev/v1alpha1
        kind: TrainingJob
        metadata:
          name: lm
        spec:
          backend: Local
          image: localhost/ferry-trainer:dev
          inputs:
            - name: train
              uri: file:///data/train
          resources:
            replicas: 3
          hyperParameters:
            epochs: "2"
        {{extra}}
        """, "job.yaml");

    private IReadOnlyList<string> CommandFor(TrainingJob job, int index, string engine = "/usr/bin/podman")
    {
        var plan = LocalJobPlan.For(job, _directory, _directory, () => new ProgramPath("train", []));
        var command = new ContainerReplicaCommand(new ContainerEngine(engine), job.Spec.Image!, plan, job.Spec);
        return command.For(new LocalReplicaContext(Attempt: 2, Index: index, Root: "/work/lm/attempt-2/algo-2", MasterPort: 29511));
    }

    private static string ValueAfter(IReadOnlyList<string> command, string flag, string prefix) =>
        command.Where((argument, i) => i > 0 && command[i - 1] == flag && argument.StartsWith(prefix, StringComparison.Ordinal)).Single()[prefix.Length..];

    [Fact]
    public void A_replica_runs_the_image_as_train_with_its_root_at_opt_ml_on_the_host_network_with_every_algo_host()
    {
        var command = CommandFor(Job(), index: 1);

        Assert.Equal(["/usr/bin/podman", "run", "--rm", "--name", "ferry-lm-2-algo-2", "--pull=never", "--network=host"], command.Take(7));
        Assert.Equal("algo-2", ValueAfter(command, "--hostname", ""));
        Assert.Equal(["localhost/ferry-trainer:dev", "train"], command.TakeLast(2));
        Assert.Contains("--replace", command);
        Assert.Equal("/work/lm/attempt-2/algo-2:/opt/ml", ValueAfter(command, "--volume", ""));
        Assert.Equal(["algo-1:127.0.0.1", "algo-2:127.0.0.1", "algo-3:127.0.0.1"], command.Where((_, i) => i > 0 && command[i - 1] == "--add-host"));
        Assert.Equal(ContainerReplicaCommand.User, ValueAfter(command, "--user", ""));
        Assert.Equal("algo-2", ValueAfter(command, "--env", "SM_CURRENT_HOST="));
        Assert.Equal("/opt/ml/model", ValueAfter(command, "--env", "SM_MODEL_DIR="));
        Assert.Equal("/opt/ml/input/data/train", ValueAfter(command, "--env", "SM_CHANNEL_TRAIN="));
        Assert.Equal("/opt/ml", ValueAfter(command, "--env", "FERRY_OPT_ML="));
        Assert.Equal("algo-1", ValueAfter(command, "--env", "MASTER_ADDR="));
        Assert.Equal("29511", ValueAfter(command, "--env", "MASTER_PORT="));
        Assert.Equal("1", ValueAfter(command, "--env", "RANK="));
        Assert.Equal("3", ValueAfter(command, "--env", "WORLD_SIZE="));
        Assert.Equal("2", ValueAfter(command, "--env", "SM_HP_EPOCHS="));
    }

    [Fact]
    public void Spec_command_replaces_the_entrypoint_and_spec_args_follow_the_image()
    {
        var command = CommandFor(Job("  command: [\"python\", \"-m\", \"trainer\"]\n  args: [\"--fast\"]"), index: 0, engine: "/usr/bin/docker");

        Assert.Equal("python", ValueAfter(command, "--entrypoint", ""));
        Assert.Equal(["localhost/ferry-trainer:dev", "-m", "trainer", "--fast"], command.TakeLast(4));
        Assert.DoesNotContain("--userns=keep-id", command);
        Assert.DoesNotContain("--replace", command);
        Assert.DoesNotContain("--hostname", command);
    }

    [Fact]
    public async Task Container_mode_without_an_image_names_spec_image()
    {
        var job = Job();
        job.Spec.Image = null;

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            LocalRunModeChoice.ChooseAsync(LocalRunMode.Container, job, () => new ContainerEngine("/usr/bin/podman"), CancellationToken.None));

        Assert.StartsWith("--mode container runs each replica in a container of spec.image, but the manifest sets no spec.image", error.Message, StringComparison.Ordinal);
        Assert.False((await LocalRunModeChoice.ChooseAsync(LocalRunMode.Auto, job, () => throw new InvalidOperationException("not asked"), CancellationToken.None)).IsContainer);
    }

    [Fact]
    public async Task Without_an_engine_container_mode_says_to_install_one_and_auto_mode_runs_processes_with_a_note()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            LocalRunModeChoice.ChooseAsync(LocalRunMode.Container, Job(), () => null, CancellationToken.None));
        Assert.Contains("--mode container needs a container engine", error.Message, StringComparison.Ordinal);
        Assert.Contains("install podman", error.Message, StringComparison.Ordinal);
        Assert.Contains("--mode process", error.Message, StringComparison.Ordinal);

        var auto = await LocalRunModeChoice.ChooseAsync(LocalRunMode.Auto, Job(), () => null, CancellationToken.None);
        Assert.False(auto.IsContainer);
        Assert.StartsWith("spec.image localhost/ferry-trainer:dev is not used", auto.Note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_image_missing_from_the_engines_store_is_named_with_how_to_get_it()
    {
        // An engine whose image store is empty, as podman answers for an unknown image.
        var engine = Path.Combine(_directory, "podman");
        await File.WriteAllTextAsync(engine, "#!/bin/sh\necho \"Error: $5: image not known\" >&2\nexit 125\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(engine, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            LocalRunModeChoice.ChooseAsync(LocalRunMode.Auto, Job(), () => new ContainerEngine(engine), CancellationToken.None));

        Assert.StartsWith(
            "spec.image localhost/ferry-trainer:dev is not in podman's local image store (Error: localhost/ferry-trainer:dev: image not known); container mode never pulls: build it (`make images`",
            error.Message, StringComparison.Ordinal);
        Assert.Contains("--mode process", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_mode_never_looks_for_an_engine()
    {
        var choice = await LocalRunModeChoice.ChooseAsync(LocalRunMode.Process, Job(), () => throw new InvalidOperationException("not asked"), CancellationToken.None);

        Assert.False(choice.IsContainer);
        Assert.Null(choice.Note);
    }

    [Fact]
    public void The_engine_is_podman_before_docker_on_PATH_unless_FERRY_CONTAINER_ENGINE_names_one()
    {
        var both = Directory.CreateDirectory(Path.Combine(_directory, "both")).FullName;
        var dockerOnly = Directory.CreateDirectory(Path.Combine(_directory, "docker-only")).FullName;
        foreach (var path in new[] { Path.Combine(both, "podman"), Path.Combine(both, "docker"), Path.Combine(dockerOnly, "docker") })
        {
            File.WriteAllText(path, "");
        }

        string? Variables(string name, string path, string? engine = null) => name switch
        {
            "PATH" => path,
            ContainerEngine.Variable => engine,
            _ => null,
        };

        Assert.Equal(Path.Combine(both, "podman"), ContainerEngine.Find(n => Variables(n, both))!.Executable);
        Assert.Equal(Path.Combine(dockerOnly, "docker"), ContainerEngine.Find(n => Variables(n, "/nonexistent:" + dockerOnly))!.Executable);
        Assert.Equal(Path.Combine(both, "docker"), ContainerEngine.Find(n => Variables(n, both, "docker"))!.Executable);
        Assert.Null(ContainerEngine.Find(n => Variables(n, _directory + "/none")));
        Assert.Null(ContainerEngine.Find(n => Variables(n, both, "nerdctl")));
    }
}
