using System.Text.RegularExpressions;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli;

namespace Ferry.Operator.Tests.Run;

/// <summary>`ferry run` refuses a bad manifest before starting anything: exit code 2 and a message naming the field and the fix.</summary>
public sealed class InvalidManifestRunTests : IDisposable
{
    private static readonly string Sample = File.ReadAllText(Path.Combine(
        LocalPrograms.RepositoryRoot(AppContext.BaseDirectory)!, "config", "samples", "fashion-mnist-local.yaml"));

    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("ferry-run-invalid-");

    public void Dispose() => _scratch.Delete(recursive: true);

    public static TheoryData<string, string, string> Cases => new()
    {
        {
            "replicas 0", Sample.Replace("replicas: 2", "replicas: 0", StringComparison.Ordinal),
            "The TrainingJob \"fashion-mnist-local\" is invalid: spec.resources.replicas: Invalid value: 0: spec.resources.replicas in body should be greater than or equal to 1"
        },
        {
            "a number where a string is expected", Regex.Replace(Sample, "epochs: \"([0-9]+)\"", "epochs: $1"),
            "spec.hyperParameters.epochs: Invalid value: \"integer\": spec.hyperParameters.epochs in body must be of type string: \"integer\""
        },
        {
            "a typo in a field name", Sample.Replace("  resources:", "  resource:", StringComparison.Ordinal),
            "strict decoding error: unknown field \"spec.resource\""
        },
        {
            "two channels named train", Sample.Replace("name: test", "name: train", StringComparison.Ordinal),
            "spec.inputs: Duplicate value: \"array\""
        },
        {
            "an InCluster manifest", Sample.Replace("\n  backend: Local", "\n  backend: InCluster\n  image: ghcr.io/ferry-dev/ferry-trainer:0.1.0", StringComparison.Ordinal)
                .Replace("file:///usr/share/datasets/fashion-mnist", "s3://ferry-data/fashion-mnist", StringComparison.Ordinal)
                .Replace("file://./artifacts/fashion-mnist", "s3://ferry-data/artifacts", StringComparison.Ordinal),
            "spec.backend: Unsupported value: \"InCluster\": ferry run runs backend Local only: set spec.backend: Local, or kubectl apply the manifest to run it with backend InCluster"
        },
        {
            "maxRuntimeSeconds 0", Sample.Replace("maxRuntimeSeconds: 900", "maxRuntimeSeconds: 0", StringComparison.Ordinal),
            "spec.stoppingCondition.maxRuntimeSeconds: Invalid value: 0: spec.stoppingCondition.maxRuntimeSeconds in body should be greater than or equal to 1"
        },
        {
            "a wrong kind", Sample.Replace("kind: TrainingJob", "kind: Job", StringComparison.Ordinal),
            "no matches for kind \"Job\" in version \"ferry.dev/v1alpha1\""
        },
        {
            "broken YAML", Sample.Replace("  backend: Local", "  backend: [Local", StringComparison.Ordinal),
            "error parsing"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Exit_code_2_with_the_field_and_the_fix(string name, string manifest, string message)
    {
        // A sample edit that the case's text replacement no longer matches would run a valid job instead.
        Assert.True(manifest != Sample, $"{name}: the case no longer changes config/samples/fashion-mnist-local.yaml; update its replacement");
        var path = Path.Combine(_scratch.FullName, "job.yaml");
        await File.WriteAllTextAsync(path, manifest);
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await RunCommand.RunAsync(new RunOptions(path, false, null, _scratch.FullName), output, error, live: false, CancellationToken.None);

        Assert.True(exit == RunCommand.InvalidManifest, $"{name}: exit {exit}, stderr: {error}");
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task A_missing_manifest_is_named()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await RunCommand.RunAsync(new RunOptions("nope.yaml", false, null, _scratch.FullName), output, error, live: false, CancellationToken.None);

        Assert.Equal(RunCommand.InvalidManifest, exit);
        Assert.Contains($"the manifest {Path.Combine(_scratch.FullName, "nope.yaml")} does not exist", error.ToString(), StringComparison.Ordinal);
    }
}
