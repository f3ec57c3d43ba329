using System.Diagnostics;
using System.Net;
using Ferry.KubeEmulator.Faults;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Ferry.KubeEmulator.Tests.Conformance;

/// <summary>Fault injection (errors, Retry-After, hangs, latency, disconnects) and the request log.</summary>
public sealed class FaultAndRequestLogTests : IAsyncLifetime
{
    private readonly EmulatorHost _host = new();

    public Task InitializeAsync() => _host.InitializeAsync();

    public Task DisposeAsync() => _host.DisposeAsync();

    [Theory]
    [InlineData(409, "Conflict")]
    [InlineData(429, "TooManyRequests")]
    [InlineData(500, "InternalError")]
    [InlineData(503, "ServiceUnavailable")]
    public async Task Next_n_requests_fail_with_the_requested_status(int code, string reason)
    {
        _host.Api.Faults.FailNext(2, code, verb: "list", resource: "configmaps", retryAfterSeconds: code == 429 ? 3 : null);
        for (var i = 0; i < 2; i++)
        {
            var (status, body, response) = await _host.SendAsync(HttpMethod.Get, "api/v1/namespaces/default/configmaps");
            Assert.Equal(code, status);
            Assert.Equal(reason, (string?)body!["reason"]);
            if (code == 429)
            {
                Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter!.Delta);
            }
        }

        Assert.Equal(200, (await _host.SendAsync(HttpMethod.Get, "api/v1/namespaces/default/configmaps")).Status);
        Assert.Equal(200, (await _host.SendAsync(HttpMethod.Get, "api/v1/namespaces/default/secrets")).Status);
    }

    [Fact]
    public async Task Typed_client_sees_injected_conflict_on_update_only()
    {
        await _host.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "f" } }, "default");
        _host.Api.Faults.FailNext(1, 409, verb: "update", resource: "configmaps");
        var cm = await _host.Client.CoreV1.ReadNamespacedConfigMapAsync("f", "default");
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _host.Client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "f", "default"));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        await _host.Client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "f", "default");
    }

    [Fact]
    public async Task Error_rate_is_deterministic_and_roughly_the_rate()
    {
        _host.Api.Faults.FailRate(0.5, 500, verb: "get", resource: "namespaces");
        var failures = 0;
        for (var i = 0; i < 40; i++)
        {
            if ((await _host.SendAsync(HttpMethod.Get, "api/v1/namespaces/default")).Status == 500)
            {
                failures++;
            }
        }

        Assert.InRange(failures, 10, 30);
    }

    [Fact]
    public async Task Hang_holds_the_request_until_the_client_times_out()
    {
        _host.Api.Faults.Add(new FaultRule { Kind = FaultKind.Hang, Verb = "get", Resource = "configmaps", Times = 1 });
        using var http = new HttpClient { BaseAddress = _host.Api.BaseAddress, Timeout = TimeSpan.FromMilliseconds(300) };
        await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetAsync("api/v1/namespaces/default/configmaps/x"));
    }

    [Fact]
    public async Task Latency_delays_matching_requests()
    {
        _host.Api.Faults.Add(new FaultRule { Kind = FaultKind.Latency, Delay = TimeSpan.FromMilliseconds(200), Verb = "list", Times = 1 });
        var watch = Stopwatch.StartNew();
        await _host.SendAsync(HttpMethod.Get, "api/v1/namespaces/default/configmaps");
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(190), watch.Elapsed.ToString());
    }

    [Fact]
    public async Task Disconnect_aborts_the_connection()
    {
        _host.Api.Faults.Add(new FaultRule { Kind = FaultKind.Disconnect, Times = 1 });
        await Assert.ThrowsAsync<HttpRequestException>(() => _host.Http.GetAsync("api/v1/namespaces"));
    }

    [Fact]
    public async Task Request_log_records_verb_resource_and_status_and_counts_writes_since_a_mark()
    {
        var mark = _host.Api.RequestLog.Mark();
        await _host.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "logged" } }, "default");
        await _host.Client.CoreV1.ReadNamespacedConfigMapAsync("logged", "default");
        await _host.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("{\"data\":{\"a\":\"b\"}}", V1Patch.PatchType.MergePatch), "logged", "default");
        await Assert.ThrowsAsync<HttpOperationException>(() => _host.Client.CoreV1.ReadNamespacedConfigMapAsync("nope", "default"));

        var entries = _host.Api.RequestLog.Since(mark);
        Assert.Equal(["create", "get", "patch", "get"], entries.Select(e => e.Verb));
        Assert.Equal(2, _host.Api.RequestLog.WritesSince(mark));
        Assert.Equal(2, _host.Api.RequestLog.WritesSince(mark, "configmaps"));
        Assert.Equal(0, _host.Api.RequestLog.WritesSince(mark, "pods"));
        var miss = entries[^1];
        Assert.Equal((404, "configmaps", "default", "nope"), (miss.StatusCode, miss.Resource, miss.Namespace, miss.Name));
        Assert.False(string.IsNullOrEmpty(miss.UserAgent));
    }
}
