using System.Diagnostics;
using Ferry.KubeEmulator.Tests.Kubectl;

namespace Ferry.KubeEmulator.Tests.Independent;

/// <summary>An emulator with the repository's CRD, for the independent client's checks.</summary>
public sealed class PythonClientEnvironment : IAsyncLifetime
{
    public KubeApiEmulator Api { get; private set; } = null!;

    public async Task InitializeAsync() => Api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [KubectlEnvironment.CrdDir] });

    public async Task DisposeAsync() => await Api.DisposeAsync();
}

/// <summary>An emulator in the RBAC mode, with kubeconfigs for the administrator and the ServiceAccount ferry-system/ferry.</summary>
public sealed class PythonClientRbacEnvironment : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ferry-python-rbac-" + Guid.NewGuid().ToString("N"));

    public KubeApiEmulator Api { get; private set; } = null!;

    public string Admin { get; private set; } = "";

    public string ServiceAccount { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        Api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions
        {
            Authorization = Ferry.KubeEmulator.Authorization.AuthorizationMode.Rbac,
            InitialNamespaces = ["default", "ferry-system"],
        });
        Admin = Api.WriteKubeconfig(Path.Combine(_dir, "admin"));
        ServiceAccount = Api.WriteServiceAccountKubeconfig(Path.Combine(_dir, "ferry"), "ferry-system", "ferry");
    }

    public async Task DisposeAsync()
    {
        await Api.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>conformance.py's rbac group against the RBAC mode (https with the kubeconfig's certificate, 401/403 bodies).</summary>
public sealed class PythonClientRbacConformanceTests(PythonClientRbacEnvironment env) : IClassFixture<PythonClientRbacEnvironment>
{
    [Fact]
    public async Task Rbac_group_passes_against_the_rbac_mode()
    {
        var (code, output) = await PythonClientConformanceTests.RunAsync("--kubeconfig", env.Admin, "--sa-kubeconfig", env.ServiceAccount, "rbac");
        Assert.True(code == 0, $"conformance.py rbac exited {code}:\n{output}");
        Assert.Contains("PASS rbac/", output, StringComparison.Ordinal);
    }
}

/// <summary>
/// tests/Conformance/conformance.py, which drives the emulator with Debian's python3-kubernetes (a client nobody here
/// wrote), one test per check group, failing with the script's report.
/// </summary>
public sealed class PythonClientConformanceTests(PythonClientEnvironment env) : IClassFixture<PythonClientEnvironment>
{
    private static string Script => Path.Combine(KubectlEnvironment.RepoRoot, "tests", "Conformance", "conformance.py");

    [Theory]
    [InlineData("apply")]
    [InlineData("crud")]
    [InlineData("concurrency")]
    [InlineData("events")]
    [InlineData("fields")]
    [InlineData("gc")]
    [InlineData("metadata")]
    [InlineData("watch")]
    public async Task Check_group_passes_against_the_emulator(string group)
    {
        var (code, output) = await RunAsync("--kubeconfig", env.Api.KubeconfigPath, group);
        Assert.True(code == 0, $"conformance.py {group} exited {code}:\n{output}");
        Assert.Contains("PASS ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_check_group_of_the_script_runs_here()
    {
        var inScript = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Script), @"^@check\(""(\w+)""\)", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).Where(g => g != "rbac").Distinct().Order(StringComparer.Ordinal);
        var here = typeof(PythonClientConformanceTests).GetMethod(nameof(Check_group_passes_against_the_emulator))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).Single()[0]).Order(StringComparer.Ordinal);
        Assert.Equal(inScript, here);
    }

    internal static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo("/usr/bin/python3", [Script, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"conformance.py {string.Join(' ', args)} did not finish in 90 s; output: {await stdout}{await stderr}");
        }

        var output = await stdout + await stderr;
        if (output.Contains("No module named 'kubernetes'", StringComparison.Ordinal))
        {
            throw new Xunit.Sdk.XunitException("/usr/bin/python3 has no kubernetes module: install Debian's python3-kubernetes (scripts/setup.sh does)");
        }

        return (process.ExitCode, output);
    }
}
