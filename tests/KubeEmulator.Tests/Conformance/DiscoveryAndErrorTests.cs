using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Tests.Support;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Discovery, OpenAPI v3 and the Status objects of each error reason.</summary>
public sealed class DiscoveryAndErrorTests(EmulatorHost host) : IClassFixture<EmulatorHost>
{
    [Fact]
    public async Task Version_reports_a_1_32_server()
    {
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, "version");
        Assert.Equal(200, status);
        Assert.Equal("v1.32.0", (string?)body!["gitVersion"]);
        Assert.Equal("1", (string?)body["major"]);
    }

    [Fact]
    public async Task Core_and_group_discovery_list_the_served_resources()
    {
        var (_, api, _) = await host.SendAsync(HttpMethod.Get, "api");
        Assert.Equal(["v1"], api!["versions"]!.AsArray().Select(v => (string)v!));

        var (_, groups, _) = await host.SendAsync(HttpMethod.Get, "apis");
        var names = groups!["groups"]!.AsArray().Select(g => (string)g!["name"]!).ToList();
        Assert.Contains("ferry.dev", names);
        Assert.Contains("coordination.k8s.io", names);
        Assert.Contains("events.k8s.io", names);
        Assert.Contains("apiextensions.k8s.io", names);

        var (_, core, _) = await host.SendAsync(HttpMethod.Get, "api/v1");
        var pods = core!["resources"]!.AsArray().First(r => (string?)r!["name"] == "pods")!;
        Assert.Equal(["po"], pods["shortNames"]!.AsArray().Select(s => (string)s!));
        Assert.Contains(core["resources"]!.AsArray(), r => (string?)r!["name"] == "pods/status");

        var (_, tj, _) = await host.SendAsync(HttpMethod.Get, "apis/ferry.dev/v1alpha1");
        var jobs = tj!["resources"]!.AsArray().First(r => (string?)r!["name"] == "trainingjobs")!;
        Assert.Equal("trainingjob", (string?)jobs["singularName"]);
        Assert.Equal("TrainingJob", (string?)jobs["kind"]);
        Assert.True((bool)jobs["namespaced"]!);
        Assert.Equal(["tj"], jobs["shortNames"]!.AsArray().Select(s => (string)s!));
        Assert.Contains("watch", jobs["verbs"]!.AsArray().Select(s => (string)s!));
        Assert.Contains(tj["resources"]!.AsArray(), r => (string?)r!["name"] == "trainingjobs/status");
    }

    [Fact]
    public async Task OpenApi_v3_index_points_to_documents_with_field_validation_and_the_crd_schema()
    {
        var (_, index, _) = await host.SendAsync(HttpMethod.Get, "openapi/v3");
        var url = (string)index!["paths"]!["apis/ferry.dev/v1alpha1"]!["serverRelativeURL"]!;
        Assert.StartsWith("/openapi/v3/apis/ferry.dev/v1alpha1?hash=", url, StringComparison.Ordinal);
        Assert.NotNull(index["paths"]!["api/v1"]);

        var (status, doc, _) = await host.SendAsync(HttpMethod.Get, url);
        Assert.Equal(200, status);
        var patch = doc!["paths"]!["/apis/ferry.dev/v1alpha1/namespaces/{namespace}/trainingjobs/{name}"]!["patch"]!;
        Assert.Equal("TrainingJob", (string?)patch["x-kubernetes-group-version-kind"]!["kind"]);
        Assert.Contains(patch["parameters"]!.AsArray(), p => (string?)p!["name"] == "fieldValidation" && (string?)p["in"] == "query");
        var schema = doc["components"]!["schemas"]!["dev.ferry.v1alpha1.TrainingJob"]!;
        Assert.Equal("TrainingJob", (string?)schema["x-kubernetes-group-version-kind"]![0]!["kind"]);
        Assert.NotNull(schema["properties"]!["spec"]);
    }

    [Fact]
    public async Task OpenApi_v2_is_not_served()
    {
        var (status, _, _) = await host.SendAsync(HttpMethod.Get, "openapi/v2");
        Assert.Equal(404, status);
    }

    public static TheoryData<string, string, string?, int, string> Errors => new()
    {
        { "GET", "api/v1/namespaces/default/configmaps/missing", null, 404, "NotFound" },
        { "POST", "api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"dup\"}}", 409, "AlreadyExists" },
        { "POST", "api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"Not_Valid\"}}", 422, "Invalid" },
        { "POST", "api/v1/namespaces/default/configmaps", "{not json", 400, "BadRequest" },
        { "POST", "api/v1/namespaces/default/configmaps/named", "{}", 405, "MethodNotAllowed" },
        { "GET", "apis/nope.dev/v1/things", null, 404, "NotFound" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public async Task Errors_are_status_objects_with_reason_and_code(string method, string path, string? body, int code, string reason)
    {
        await host.SendAsync(HttpMethod.Post, "api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"dup\"}}");
        var (status, status2, _) = await host.SendAsync(new HttpMethod(method), path, body);
        Assert.Equal(code, status);
        Assert.Equal("Status", (string?)status2!["kind"]);
        Assert.Equal("Failure", (string?)status2["status"]);
        Assert.Equal(reason, (string?)status2["reason"]);
        Assert.Equal(code, (int)status2["code"]!);
    }

    [Fact]
    public async Task Invalid_name_message_is_worded_as_the_apiserver_words_it()
    {
        var (_, body, _) = await host.SendAsync(HttpMethod.Post, "api/v1/namespaces/default/configmaps", "{\"metadata\":{\"name\":\"Bad_Name\"}}");
        Assert.StartsWith("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of", (string?)body!["message"], StringComparison.Ordinal);
        Assert.Equal("metadata.name", (string?)body["details"]!["causes"]![0]!["field"]);
    }

    [Fact]
    public async Task Healthz_answers_ok()
    {
        var response = await host.Http.GetStringAsync("healthz");
        Assert.Equal("ok", response);
        _ = JsonNode.Parse("{}");
    }
}
