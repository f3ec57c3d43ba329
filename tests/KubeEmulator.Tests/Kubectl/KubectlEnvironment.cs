using System.Diagnostics;
using System.Text;

namespace Ferry.KubeEmulator.Tests.Kubectl;

/// <summary>An emulator loaded with nothing, a kubeconfig and a fresh kubectl cache dir, and a way to run the real /usr/bin/kubectl.</summary>
public sealed class KubectlEnvironment : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ferry-kubectl-" + Guid.NewGuid().ToString("N"));

    public KubeApiEmulator Api { get; private set; } = null!;

    public string Kubeconfig { get; private set; } = "";

    /// <summary>The repository root (the directory holding Operator.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string CrdDir => Path.Combine(RepoRoot, "config", "crd");

    public static string SamplesDir => Path.Combine(RepoRoot, "config", "samples");

    public string TempDir => _dir;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        Api = await KubeApiEmulator.StartAsync();
        Kubeconfig = Api.WriteKubeconfig(Path.Combine(_dir, "kubeconfig"));
    }

    public async Task DisposeAsync()
    {
        await Api.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Runs kubectl to completion (killed after 30 seconds).</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"kubectl {string.Join(' ', args)} did not finish in time; stdout: {await stdout}; stderr: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts kubectl and leaves it running (for wait, delete and get -w).</summary>
    public Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("/usr/bin/kubectl", ["--cache-dir", Path.Combine(_dir, "cache"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            WorkingDirectory = RepoRoot,
        };
        info.Environment["KUBECONFIG"] = Kubeconfig;
        return Process.Start(info)!;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Operator.sln not found above " + AppContext.BaseDirectory);
    }
}
