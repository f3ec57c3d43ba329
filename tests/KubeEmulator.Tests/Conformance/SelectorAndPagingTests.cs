using System.Net;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Label and field selectors, and limit/continue paging with one consistent list resourceVersion.</summary>
public sealed class SelectorAndPagingTests(EmulatorHost host) : IClassFixture<EmulatorHost>, IAsyncLifetime
{
    private readonly Kubernetes _client = host.Client;
    private string _ns = "";

    public async Task InitializeAsync()
    {
        _ns = await host.NewNamespaceAsync("sel");
        var objects = new (string Name, Dictionary<string, string> Labels)[]
        {
            ("a", new() { ["app"] = "web", ["tier"] = "front" }),
            ("b", new() { ["app"] = "web", ["tier"] = "back" }),
            ("c", new() { ["app"] = "db" }),
            ("d", new() { ["env"] = "prod" }),
        };
        foreach (var (name, labels) in objects)
        {
            await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, Labels = labels } }, _ns);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [InlineData("app=web", "a,b")]
    [InlineData("app==web", "a,b")]
    [InlineData("app!=web", "c,d")]
    [InlineData("app in (web,db)", "a,b,c")]
    [InlineData("app notin (web)", "c,d")]
    [InlineData("tier", "a,b")]
    [InlineData("!tier", "c,d")]
    [InlineData("app=web,tier=back", "b")]
    [InlineData("app in (web), tier notin (front)", "b")]
    [InlineData("", "a,b,c,d")]
    public async Task Label_selectors_select_as_the_apiserver_does(string selector, string expected)
    {
        var list = await _client.CoreV1.ListNamespacedConfigMapAsync(_ns, labelSelector: selector);
        Assert.Equal(expected, string.Join(",", list.Items.Select(i => i.Metadata.Name)));
    }

    [Theory]
    [InlineData("metadata.name=c", "c")]
    [InlineData("metadata.name!=c", "a,b,d")]
    [InlineData("metadata.name==a", "a")]
    public async Task Field_selectors_on_name_select(string selector, string expected)
    {
        var list = await _client.CoreV1.ListNamespacedConfigMapAsync(_ns, fieldSelector: selector);
        Assert.Equal(expected, string.Join(",", list.Items.Select(i => i.Metadata.Name)));
    }

    [Fact]
    public async Task Field_selector_on_namespace_works_cluster_wide()
    {
        var list = await _client.CoreV1.ListConfigMapForAllNamespacesAsync(fieldSelector: $"metadata.namespace={_ns}");
        Assert.Equal(4, list.Items.Count);
    }

    [Fact]
    public async Task Pod_field_selectors_on_status_phase()
    {
        var ns = await host.NewNamespaceAsync();
        await _client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "p" }, Spec = new V1PodSpec { Containers = [new V1Container { Name = "c", Image = "i" }] } }, ns);
        Assert.Single((await _client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: "status.phase=Pending")).Items);
        Assert.Empty((await _client.CoreV1.ListNamespacedPodAsync(ns, fieldSelector: "status.phase=Running")).Items);
    }

    [Theory]
    [InlineData("labelSelector", "app in (web")]
    [InlineData("fieldSelector", "spec.foo=bar")]
    public async Task Malformed_selectors_are_bad_requests(string parameter, string selector)
    {
        var (status, body, _) = await host.SendAsync(HttpMethod.Get, $"api/v1/namespaces/{_ns}/configmaps?{parameter}={Uri.EscapeDataString(selector)}");
        Assert.Equal(400, status);
        Assert.Equal("BadRequest", (string?)body!["reason"]);
    }

    [Fact]
    public async Task Paging_returns_every_item_once_with_the_first_page_resource_version()
    {
        var first = await _client.CoreV1.ListNamespacedConfigMapAsync(_ns, limit: 3);
        Assert.Equal(3, first.Items.Count);
        Assert.False(string.IsNullOrEmpty(first.Metadata.ContinueProperty));
        Assert.Equal(1, first.Metadata.RemainingItemCount);

        // A write between pages does not leak into the rest of this list.
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "z-late" } }, _ns);
        var second = await _client.CoreV1.ListNamespacedConfigMapAsync(_ns, limit: 3, continueParameter: first.Metadata.ContinueProperty);
        Assert.Equal(["d"], second.Items.Select(i => i.Metadata.Name));
        Assert.Equal(first.Metadata.ResourceVersion, second.Metadata.ResourceVersion);
        Assert.True(string.IsNullOrEmpty(second.Metadata.ContinueProperty));
        await _client.CoreV1.DeleteNamespacedConfigMapAsync("z-late", _ns);
    }

    [Fact]
    public async Task An_unknown_continue_token_is_gone()
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ListNamespacedConfigMapAsync(_ns, limit: 1, continueParameter: Convert.ToBase64String("999999:1"u8.ToArray())));
        Assert.Equal(HttpStatusCode.Gone, e.Response.StatusCode);
    }

    [Fact]
    public async Task A_selector_filtered_page_has_no_remaining_item_count_and_an_unfiltered_page_has_one()
    {
        var (_, filtered, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{_ns}/configmaps?limit=1&labelSelector=app");
        var (_, plain, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{_ns}/configmaps?limit=1");
        Assert.NotNull(filtered!["metadata"]!["continue"]);
        Assert.Null(filtered["metadata"]!["remainingItemCount"]);
        Assert.NotNull(plain!["metadata"]!["remainingItemCount"]);
    }

    [Fact]
    public async Task A_continue_token_outlives_many_other_paged_lists_until_the_history_is_compacted()
    {
        var (_, first, _) = await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{_ns}/configmaps?limit=1");
        var token = Uri.EscapeDataString((string)first!["metadata"]!["continue"]!);
        for (var i = 0; i < 100; i++)
        {
            await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{_ns}/configmaps?limit=1");
        }

        Assert.Equal(200, (await host.SendAsync(HttpMethod.Get, $"/api/v1/namespaces/{_ns}/configmaps?limit=1&continue={token}")).Status);
    }

    [Fact]
    public async Task Force_on_a_non_apply_patch_is_a_422()
    {
        var (status, body, _) = await host.SendAsync(HttpMethod.Patch, $"/api/v1/namespaces/{_ns}/configmaps/missing?force=true", "{}", "application/merge-patch+json");
        Assert.Equal(422, status);
        Assert.Contains("force: Forbidden: may not be specified for non-apply patch", (string?)body!["message"], StringComparison.Ordinal);
    }
}
