using System.Diagnostics;

namespace Ferry.Operator.Backends.Local;

/// <summary>A container engine's command-line client (<c>podman</c> or <c>docker</c>) that runs replicas in container mode.</summary>
/// <param name="Executable">The client's path or name on PATH.</param>
public sealed record ContainerEngine(string Executable)
{
    /// <summary>Environment variable naming the engine to use (a name on PATH or a path); default: podman, else docker.</summary>
    public const string Variable = "FERRY_CONTAINER_ENGINE";

    /// <summary>The engines looked for on PATH, in this order.</summary>
    public static readonly IReadOnlyList<string> Candidates = ["podman", "docker"];

    /// <summary>The engine's name (<c>podman</c>, <c>docker</c>) for messages and engine-specific flags.</summary>
    public string Name => Path.GetFileName(Executable);

    /// <summary>Whether this is podman (whose rootless mode needs <c>--userns=keep-id</c> to keep the user's files the user's).</summary>
    public bool IsPodman => Name.StartsWith("podman", StringComparison.Ordinal);

    /// <summary>
    /// <c>FERRY_CONTAINER_ENGINE</c> when set (null when it names no executable), else the first of podman and docker on PATH,
    /// else null.
    /// </summary>
    public static ContainerEngine? Find(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        if (getVariable(Variable) is { Length: > 0 } configured)
        {
            return Locate(configured, getVariable("PATH")) is { } path ? new ContainerEngine(path) : null;
        }

        return Candidates.Select(c => Locate(c, getVariable("PATH"))).OfType<string>().Select(p => new ContainerEngine(p)).FirstOrDefault();
    }

    /// <summary>Null when <paramref name="image"/> is in the engine's local image store, else why not (the engine's own words).</summary>
    public async Task<string?> MissingImageAsync(string image, CancellationToken cancellationToken)
    {
        var (exit, _, error) = await RunAsync(["image", "inspect", "--format", "{{.Id}}", image], cancellationToken);
        return exit == 0 ? null : FirstLine(error) ?? $"`{Name} image inspect` exited with {exit}";
    }

    /// <summary>Removes containers by name, ignoring the ones that do not exist.</summary>
    public async Task RemoveAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var list = names.ToList();
        if (list.Count > 0)
        {
            await RunAsync(["rm", "--force", .. list], cancellationToken);
        }
    }

    /// <summary>Runs the client with <paramref name="arguments"/>; returns its exit code, stdout and stderr.</summary>
    public async Task<(int Exit, string Output, string Error)> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        using var process = new Process
        {
            StartInfo = new ProcessStartInfo(Executable)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            },
        };
        foreach (var argument in arguments)
        {
            process.StartInfo.ArgumentList.Add(argument);
        }

        process.Start();
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await output, await error);
    }

    private static string? FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();

    private static string? Locate(string name, string? path)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(name) ? Path.GetFullPath(name) : null;
        }

        return (path ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
    }
}
