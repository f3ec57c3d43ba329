using System.Formats.Tar;
using System.IO.Compression;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli;
using Ferry.Operator.Cli.Run;

namespace Ferry.Operator.Tests.Local;

/// <summary>The Local tests start real processes (`dotnet ferry.dll agent …`); one at a time keeps them within the machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalProcessesCollection
{
    public const string Name = "Local processes";
}

/// <summary>A scratch directory with a manifest and scripts, run through `ferry run` or the Local backend.</summary>
internal sealed class LocalRun : IDisposable
{
    public LocalRun(string prefix)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Directory { get; }

    public string WorkDirectory => Path.Combine(Directory, "work");

    public string PathOf(string relative) => Path.Combine(Directory, relative);

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    /// <summary>Writes an executable shell script and returns its path.</summary>
    public string Script(string name, string body)
    {
        var path = PathOf(name);
        File.WriteAllText(path, "#!/bin/sh\nset -e\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    /// <summary>Writes the manifest and returns its path.</summary>
    public string Manifest(string yaml)
    {
        var path = PathOf("job.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    /// <summary>`ferry run` (plain output) on the manifest; returns the exit code and what it printed.</summary>
    public async Task<(int Exit, string Output, string Error)> RunCommandAsync(bool verbose = false, CancellationToken cancellationToken = default, bool resume = false)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await RunCommand.RunAsync(new RunOptions(PathOf("job.yaml"), verbose, WorkDirectory, Directory, resume), output, error, live: false, cancellationToken);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The Local backend through the shared reconciler, returning the final job (status included).</summary>
    public async Task<TrainingJob> RunJobAsync(CancellationToken cancellationToken = default, IReadOnlyDictionary<string, string>? environment = null)
    {
        var job = ManifestLoader.LoadFile(PathOf("job.yaml"));
        var plan = LocalJobPlan.For(job, WorkDirectory, Directory, () => LocalPrograms.Trainer());
        await using var backend = new LocalBackend(plan, LocalPrograms.Agent(), TimeProvider.System, _ => { })
        {
            StopGracePeriod = TimeSpan.FromSeconds(2),
            EnvironmentOverrides = environment ?? new Dictionary<string, string>(),
        };
        return await new LocalJobRunner(backend, TimeProvider.System).RunAsync(job, cancellationToken);
    }

    /// <summary>The entries of a model.tar.gz and their text (for small files).</summary>
    public static async Task<Dictionary<string, byte[]>> ReadArchiveAsync(string path)
    {
        var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        await using var file = File.OpenRead(path);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync() is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                using var content = new MemoryStream();
                await entry.DataStream!.CopyToAsync(content);
                entries[entry.Name.TrimStart('.', '/')] = content.ToArray();
            }
        }

        return entries;
    }
}
