using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.KubeEmulator.Tests.Support;

/// <summary>An emulator with the test TrainingJob CRD loaded, a FakeTimeProvider, a typed client and a raw HTTP client.</summary>
public sealed class EmulatorHost : IAsyncLifetime
{
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public KubeApiEmulator Api { get; private set; } = null!;

    public Kubernetes Client { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public static string FixtureCrd => Path.Combine(AppContext.BaseDirectory, "Fixtures", "crd", "ferry.dev_trainingjobs.yaml");

    public async Task InitializeAsync()
    {
        Api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions
        {
            TimeProvider = Time,
            CrdPaths = [FixtureCrd],
            EventHistory = 2_000,
            BookmarkInterval = TimeSpan.FromSeconds(10),
        });
        Client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(Api.KubeconfigPath));
        Http = new HttpClient { BaseAddress = Api.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        Http.Dispose();
        await Api.DisposeAsync();
    }

    /// <summary>Creates a fresh namespace so tests sharing one emulator do not see each other's objects.</summary>
    public async Task<string> NewNamespaceAsync(string prefix = "t")
    {
        var ns = await Api.CreateAsync(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["generateName"] = prefix + "-" },
        });
        return (string)ns["metadata"]!["name"]!;
    }

    public async Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? body = null,
        string contentType = "application/json", string? accept = null)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    public static JsonObject TrainingJob(string name, string image = "trainer:1", int replicas = 1, JsonObject? labels = null) => new()
    {
        ["apiVersion"] = "ferry.dev/v1alpha1",
        ["kind"] = "TrainingJob",
        ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = labels ?? [] },
        ["spec"] = new JsonObject { ["image"] = image, ["resources"] = new JsonObject { ["replicas"] = replicas } },
    };

    public static JsonObject ConfigMap(string name, JsonObject? labels = null, JsonObject? data = null) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = labels ?? [] },
        ["data"] = data ?? new JsonObject { ["k"] = "v" },
    };
}
