using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Autorest;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Custom resources from a CRD: generation, the status subresource, schema validation, defaults, printer columns.</summary>
public sealed class CustomResourceTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    private const string Group = "ferry.dev";
    private const string Version = "v1alpha1";
    private const string Plural = "trainingjobs";
    private readonly Kubernetes _client = host.Client;

    [Fact]
    public async Task Generation_moves_only_when_the_spec_changes()
    {
        var ns = await host.NewNamespaceAsync();
        await CreateAsync(ns, EmulatorHost.TrainingJob("g"));
        Assert.Equal(1, Generation(await GetAsync(ns, "g")));

        await PatchAsync(ns, "g", "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}");
        Assert.Equal(1, Generation(await GetAsync(ns, "g")));

        await PatchAsync(ns, "g", "{\"status\":{\"phase\":\"Running\"}}", status: true);
        Assert.Equal(1, Generation(await GetAsync(ns, "g")));

        await PatchAsync(ns, "g", "{\"spec\":{\"suspend\":true}}");
        Assert.Equal(2, Generation(await GetAsync(ns, "g")));
    }

    [Fact]
    public async Task Status_subresource_changes_only_status_and_main_writes_ignore_status()
    {
        var ns = await host.NewNamespaceAsync();
        var job = EmulatorHost.TrainingJob("s");
        job["status"] = new JsonObject { ["phase"] = "Succeeded" };
        var created = await CreateAsync(ns, job);
        Assert.Null(created["status"]);

        await PatchAsync(ns, "s", "{\"spec\":{\"suspend\":true},\"status\":{\"phase\":\"Running\"}}", status: true);
        var afterStatus = await GetAsync(ns, "s");
        Assert.Equal("Running", (string?)afterStatus["status"]!["phase"]);
        Assert.Null(afterStatus["spec"]!["suspend"]);

        await PatchAsync(ns, "s", "{\"spec\":{\"suspend\":true},\"status\":{\"phase\":\"Failed\"}}");
        var afterMain = await GetAsync(ns, "s");
        Assert.Equal("Running", (string?)afterMain["status"]!["phase"]);
        Assert.True((bool)afterMain["spec"]!["suspend"]!);
    }

    [Fact]
    public async Task Defaults_from_the_schema_are_stored_and_returned()
    {
        var ns = await host.NewNamespaceAsync();
        var job = EmulatorHost.TrainingJob("d");
        job["spec"]!.AsObject().Remove("resources");
        var created = await CreateAsync(ns, job);
        Assert.Equal("InCluster", (string?)created["spec"]!["backend"]);
        Assert.Equal(1, (int)created["spec"]!["resources"]!["replicas"]!);
        Assert.Equal("InCluster", (string?)host.Api.GetObject("ferry.dev/v1alpha1", "TrainingJob", ns, "d")!["spec"]!["backend"]);
    }

    [Fact]
    public async Task Schema_violations_are_422_invalid_with_field_causes()
    {
        var ns = await host.NewNamespaceAsync();
        var job = EmulatorHost.TrainingJob("bad", replicas: 0);
        job["spec"]!["backend"] = "Moon";
        var (status, body, _) = await host.SendAsync(HttpMethod.Post, $"apis/{Group}/{Version}/namespaces/{ns}/{Plural}", job.ToJsonString());
        Assert.Equal(422, status);
        Assert.Equal("Invalid", (string?)body!["reason"]);
        var message = (string)body["message"]!;
        Assert.StartsWith("TrainingJob.ferry.dev \"bad\" is invalid: [", message, StringComparison.Ordinal);
        var fields = body["details"]!["causes"]!.AsArray().Select(c => (string?)c!["field"]).ToList();
        Assert.Contains("spec.backend", fields);
        Assert.Contains("spec.resources.replicas", fields);
        Assert.Equal("TrainingJob", (string?)body["details"]!["kind"]);
        Assert.Equal(Group, (string?)body["details"]!["group"]);
    }

    [Theory]
    [InlineData("Strict", 400)]
    [InlineData("Warn", 201)]
    [InlineData("Ignore", 201)]
    public async Task Field_validation_modes_treat_unknown_fields(string mode, int expectedStatus)
    {
        var ns = await host.NewNamespaceAsync();
        var job = EmulatorHost.TrainingJob("u");
        job["spec"]!["foo"] = "bar";
        var (status, body, response) = await host.SendAsync(HttpMethod.Post, $"apis/{Group}/{Version}/namespaces/{ns}/{Plural}?fieldValidation={mode}", job.ToJsonString());
        Assert.Equal(expectedStatus, status);
        var warnings = response.Headers.TryGetValues("Warning", out var w) ? w.ToList() : [];
        switch (mode)
        {
            case "Strict":
                Assert.Equal("BadRequest", (string?)body!["reason"]);
                Assert.EndsWith("strict decoding error: unknown field \"spec.foo\"", (string?)body["message"], StringComparison.Ordinal);
                break;
            case "Warn":
                Assert.Equal(["299 - \"unknown field \\\"spec.foo\\\"\""], warnings);
                Assert.Null(body!["spec"]!["foo"]);
                break;
            default:
                Assert.Empty(warnings);
                Assert.Null(body!["spec"]!["foo"]);
                break;
        }
    }

    [Fact]
    public async Task Cel_transition_rule_refuses_an_immutable_edit_with_the_rule_message()
    {
        var ns = await host.NewNamespaceAsync();
        await CreateAsync(ns, EmulatorHost.TrainingJob("imm", image: "a:1"));
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => PatchAsync(ns, "imm", "{\"spec\":{\"image\":\"b:2\"}}"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var message = (string?)JsonNode.Parse(e.Response.Content)!["message"];
        Assert.Equal("TrainingJob.ferry.dev \"imm\" is invalid: spec: Invalid value: \"object\": spec is immutable once the job has started (only spec.suspend may change)", message);
    }

    [Fact]
    public async Task Table_response_uses_the_printer_columns()
    {
        var ns = await host.NewNamespaceAsync();
        await CreateAsync(ns, EmulatorHost.TrainingJob("t", replicas: 3));
        await PatchAsync(ns, "t", "{\"status\":{\"phase\":\"Running\"}}", status: true);
        host.Time.Advance(TimeSpan.FromMinutes(5));

        var (status, table, _) = await host.SendAsync(HttpMethod.Get, $"apis/{Group}/{Version}/namespaces/{ns}/{Plural}?includeObject=Object",
            accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
        Assert.Equal(200, status);
        Assert.Equal("Table", (string?)table!["kind"]);
        Assert.Equal(["Name", "Backend", "Phase", "Replicas", "Age", "Duration"], table["columnDefinitions"]!.AsArray().Select(c => (string)c!["name"]!));
        var cells = table["rows"]![0]!["cells"]!.AsArray();
        Assert.Equal("t", (string?)cells[0]);
        Assert.Equal("InCluster", (string?)cells[1]);
        Assert.Equal("Running", (string?)cells[2]);
        Assert.Equal(3, (int)cells[3]!);
        Assert.Equal("5m", (string?)cells[4]);
        Assert.Null(cells[5]);
        Assert.Equal("TrainingJob", (string?)table["rows"]![0]!["object"]!["kind"]);
    }

    [Fact]
    public async Task Built_in_table_has_name_and_age()
    {
        var (_, table, _) = await host.SendAsync(HttpMethod.Get, "api/v1/namespaces", accept: "application/json;as=Table;v=v1;g=meta.k8s.io");
        Assert.Equal(["Name", "Age"], table!["columnDefinitions"]!.AsArray().Select(c => (string)c!["name"]!));
        Assert.Equal("PartialObjectMetadata", (string?)table["rows"]![0]!["object"]!["kind"]);
    }

    [Fact]
    public async Task Deleting_the_crd_stops_serving_the_resource()
    {
        await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = [EmulatorHost.FixtureCrd] });
        using var http = new HttpClient { BaseAddress = api.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"apis/{Group}/{Version}/namespaces/default/{Plural}")).StatusCode);
        await api.DeleteAsync("apiextensions.k8s.io/v1", "CustomResourceDefinition", null, "trainingjobs.ferry.dev");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"apis/{Group}/{Version}/namespaces/default/{Plural}")).StatusCode);
    }

    private async Task<JsonObject> CreateAsync(string ns, JsonObject job) =>
        ToJson(await _client.CustomObjects.CreateNamespacedCustomObjectAsync(job, Group, Version, ns, Plural));

    private async Task<JsonObject> GetAsync(string ns, string name) =>
        ToJson(await _client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, ns, Plural, name));

    private async Task<JsonObject> PatchAsync(string ns, string name, string patch, bool status = false)
    {
        var body = new V1PatchOf(patch);
        var result = status
            ? await _client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(body.Patch, Group, Version, ns, Plural, name)
            : await _client.CustomObjects.PatchNamespacedCustomObjectAsync(body.Patch, Group, Version, ns, Plural, name);
        return ToJson(result);
    }

    private static long Generation(JsonObject o) => (long)o["metadata"]!["generation"]!;

    private static JsonObject ToJson(object o) => JsonNode.Parse(o is JsonElement e ? e.GetRawText() : JsonSerializer.Serialize(o))!.AsObject();

    private sealed record V1PatchOf(string Json)
    {
        public k8s.Models.V1Patch Patch => new(Json, k8s.Models.V1Patch.PatchType.MergePatch);
    }
}
