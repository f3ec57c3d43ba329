using System.Text.Json.Nodes;
using Ferry.Crds.Generation;
using Ferry.Crds.Serialization;
using Ferry.KubeEmulator.Schema;
using Ferry.Operator.Backends.Local;
using Ferry.Operator.Cli.Run;

namespace Ferry.Operator.Tests.Run;

/// <summary>
/// `ferry run` must refuse exactly what the API server refuses, with the same words. The reference is the Kubernetes
/// API emulator's validator, which runs the CRD's CEL rules in a real CEL engine (@bufbuild/cel under Node).
/// </summary>
public sealed class ManifestValidationTests : IAsyncLifetime
{
    private static readonly string Root = LocalPrograms.RepositoryRoot(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException("no Operator.sln above the test binaries");

    private readonly CustomResourceValidator _apiServer = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _apiServer.DisposeAsync().AsTask();

    private static JsonObject Sample(string name = "fashion-mnist-local.yaml") =>
        (JsonObject)ManifestYaml.ParseDocuments(File.ReadAllText(Path.Combine(Root, "config", "samples", name))).Single()!;

    private static JsonObject CrdSchema()
    {
        var crd = (JsonObject)ManifestYaml.ParseDocuments(File.ReadAllText(Path.Combine(Root, "config", "crd", "ferry.dev_trainingjobs.yaml"))).Single()!;
        return (JsonObject)crd["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;
    }

    private static JsonObject Spec(JsonObject manifest) => (JsonObject)manifest["spec"]!;

    public static TheoryData<string> Cases => new(Edits.Keys);

    private static readonly Dictionary<string, Action<JsonObject>> Edits = new()
    {
        ["valid sample"] = _ => { },
        ["replicas 0"] = m => Spec(m)["resources"]!["replicas"] = 0,
        ["replicas 257 and gpus -1"] = m => { Spec(m)["resources"]!["replicas"] = 257; Spec(m)["resources"]!["gpusPerReplica"] = -1; },
        ["replicas as a string"] = m => Spec(m)["resources"]!["replicas"] = "2",
        ["unknown backend"] = m => Spec(m)["backend"] = "Cloud",
        ["hyperparameter as a number"] = m => Spec(m)["hyperParameters"]!["epochs"] = 2,
        ["duplicate channel names"] = m => Spec(m)["inputs"]![1]!["name"] = "train",
        ["channel name with a space"] = m => Spec(m)["inputs"]![0]!["name"] = "train data",
        ["channel without uri"] = m => ((JsonObject)Spec(m)["inputs"]![0]!).Remove("uri"),
        ["env name starting with a digit"] = m => Spec(m)["env"] = new JsonObject { ["1BAD"] = "x" },
        ["empty hyperparameter key"] = m => Spec(m)["hyperParameters"]![""] = "x",
        ["name of 60 characters"] = m => m["metadata"]!["name"] = new string('a', 60),
        ["maxWaitSeconds without spot and below maxRuntime"] = m => Spec(m)["stoppingCondition"]!["maxWaitSeconds"] = 10,
        ["InCluster without image and with file:// URIs"] = m => Spec(m)["backend"] = "InCluster",
        ["SageMaker without role, instance type or output"] = m =>
        {
            Spec(m)["backend"] = "SageMaker";
            Spec(m)["image"] = "ghcr.io/ferry-dev/ferry-trainer:0.1.0";
            Spec(m).Remove("output");
        },
        ["empty image"] = m => Spec(m)["image"] = "",
        ["33 command parts"] = m => Spec(m)["command"] = new JsonArray([.. Enumerable.Range(0, 33).Select(i => (JsonNode?)("a" + i))]),
        ["duplicate metric names"] = m => Spec(m)["metricDefinitions"] = new JsonArray(
            new JsonObject { ["name"] = "loss", ["regex"] = "loss=([0-9.]+)" },
            new JsonObject { ["name"] = "loss", ["regex"] = "l=([0-9.]+)" }),
        ["unknown rule type and patience 0"] = m => Spec(m)["rules"] = new JsonArray(new JsonObject { ["type"] = "Boredom", ["patience"] = 0 }),
        ["reserved SageMaker tag"] = m => Spec(m)["sageMaker"] = new JsonObject { ["tags"] = new JsonObject { ["aws:team"] = "x" } },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Errors_are_the_API_servers_errors_word_for_word(string name)
    {
        var manifest = Sample();
        Edits[name](manifest);

        var expected = (await _apiServer.ValidateAsync(CrdSchema(), manifest, null, validateStatus: false)).Errors.Select(e => e.ToString()).ToList();
        var actual = ManifestValidator.Validate(manifest, CrdGenerator.RootSchema()).Errors.Select(e => e.ToString()).ToList();

        if (name != "valid sample")
        {
            Assert.NotEmpty(expected);
        }

        Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Defaults_are_applied_before_the_rules_run()
    {
        var manifest = Sample("fashion-mnist-incluster.yaml");
        Spec(manifest).Remove("backend");
        Spec(manifest).Remove("image");

        var result = ManifestValidator.Validate(manifest, CrdGenerator.RootSchema());

        Assert.Equal("InCluster", (string?)result.Object["spec"]!["backend"]);
        Assert.Contains(result.Errors, e => e.ToString().StartsWith("spec.image: Required value: spec.image is required unless spec.backend is Local", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_fields_are_reported_and_pruned()
    {
        var manifest = Sample();
        Spec(manifest)["replica"] = 2;
        Spec(manifest)["resources"]!["gpu"] = 1;

        var result = ManifestValidator.Validate(manifest, CrdGenerator.RootSchema());

        Assert.Equal(["spec.replica", "spec.resources.gpu"], result.UnknownFields.Order(StringComparer.Ordinal));
        Assert.Null(result.Object["spec"]!["replica"]);
        Assert.Empty(result.Errors);
    }
}
