using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Backends.Local;

/// <summary>How `ferry run` runs each replica's training process (`--mode`).</summary>
public enum LocalRunMode
{
    /// <summary>In a container of spec.image when spec.image is set and podman or docker is on PATH, else as a process.</summary>
    Auto,

    /// <summary>As a process on this machine (spec.image is not used).</summary>
    Process,

    /// <summary>In a container of spec.image (SageMaker local mode); an error when there is no engine or no image.</summary>
    Container,
}

/// <summary>The mode a run ends up in: the engine and image for container mode, and a note for the user when auto mode chose processes although an image was named.</summary>
public sealed record LocalRunModeChoice(ContainerEngine? Engine, string? Image, string? Note)
{
    /// <summary>Whether the replicas run in containers.</summary>
    public bool IsContainer => Engine is not null && Image is not null;

    /// <summary>
    /// Chooses the mode for <paramref name="job"/>. Throws <see cref="InvalidOperationException"/> with the fix when
    /// container mode is asked for (or chosen) but cannot run: no spec.image, no engine, or the image is not in the
    /// engine's local store (images are never pulled: `--pull=never`).
    /// </summary>
    public static async Task<LocalRunModeChoice> ChooseAsync(LocalRunMode mode, TrainingJob job, Func<ContainerEngine?> findEngine, CancellationToken cancellationToken)
    {
        var image = string.IsNullOrWhiteSpace(job.Spec.Image) ? null : job.Spec.Image;
        if (mode == LocalRunMode.Process)
        {
            return new LocalRunModeChoice(null, null, null);
        }

        if (image is null)
        {
            return mode == LocalRunMode.Container
                ? throw new InvalidOperationException("--mode container runs each replica in a container of spec.image, but the manifest sets no spec.image: add spec.image (e.g. localhost/ferry-trainer:dev from `make images`) or use --mode process.")
                : new LocalRunModeChoice(null, null, null);
        }

        var engine = findEngine();
        if (engine is null)
        {
            var which = Environment.GetEnvironmentVariable(ContainerEngine.Variable) is { Length: > 0 } configured
                ? $"{ContainerEngine.Variable}={configured} names no executable"
                : "neither podman nor docker is on PATH";
            return mode == LocalRunMode.Container
                ? throw new InvalidOperationException($"--mode container needs a container engine, but {which}: install podman (scripts/setup.sh does, as root) or docker, or use --mode process.")
                : new LocalRunModeChoice(null, null, $"spec.image {image} is not used: {which}, so the replicas run as processes (--mode container requires an engine).");
        }

        if (await engine.MissingImageAsync(image, cancellationToken) is { } why)
        {
            throw new InvalidOperationException(
                $"spec.image {image} is not in {engine.Name}'s local image store ({why}); container mode never pulls: build it (`make images` builds localhost/ferry-trainer:dev) or `{engine.Name} pull {image}`, or use --mode process to run the built trainer as processes.");
        }

        return new LocalRunModeChoice(engine, image, null);
    }
}
