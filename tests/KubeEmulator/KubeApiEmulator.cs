using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Authorization;
using Ferry.KubeEmulator.Diagnostics;
using Ferry.KubeEmulator.Errors;
using Ferry.KubeEmulator.Faults;
using Ferry.KubeEmulator.Http;
using Ferry.KubeEmulator.Kubelet;
using Ferry.KubeEmulator.Resources;
using Ferry.KubeEmulator.Schema;
using Ferry.KubeEmulator.Serialization;
using Ferry.KubeEmulator.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.KubeEmulator;

/// <summary>
/// A Kubernetes API server emulator on Kestrel (127.0.0.1, a free port), for tests in-process
/// (<c>await using var api = await KubeApiEmulator.StartAsync()</c>) or standalone (<c>dotnet run --project tests/KubeEmulator</c>).
/// </summary>
public sealed class KubeApiEmulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CustomResourceValidator _validator;
    private string? _kubeconfigPath;
    private bool _ownsKubeconfig;

    private KubeApiEmulator(WebApplication app, ApiOperations ops, RequestLog log, FaultInjector faults, CustomResourceValidator validator, KubeApiEmulatorOptions options)
    {
        _app = app;
        Operations = ops;
        RequestLog = log;
        Faults = faults;
        _validator = validator;
        Options = options;
        Kubelet = new SimulatedKubelet(this, options.TimeProvider);
    }

    /// <summary>The server's base address, e.g. http://127.0.0.1:41234/.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public KubeApiEmulatorOptions Options { get; }

    /// <summary>Every request served (verb, path, resource, status, user agent).</summary>
    public RequestLog RequestLog { get; }

    /// <summary>Fault injection: error responses, hangs, latency, dropped watches, history compaction.</summary>
    public FaultInjector Faults { get; }

    /// <summary>The simulated kubelet that moves pods through their phases (idle until started).</summary>
    public SimulatedKubelet Kubelet { get; }

    /// <summary>Direct access to the write semantics (same code path as HTTP requests).</summary>
    public ApiOperations Operations { get; }

    /// <summary>The store: resourceVersion, event history, open watches.</summary>
    public ObjectStore Store => Operations.Store;

    /// <summary>The served resources (built-in and from CRDs).</summary>
    public ResourceRegistry Registry => Operations.Registry;

    /// <summary>The path of a kubeconfig for this server (written to a temp file on first use).</summary>
    public string KubeconfigPath
    {
        get
        {
            if (_kubeconfigPath is null)
            {
                var path = Path.Combine(Path.GetTempPath(), $"ferry-kube-emulator-{Guid.NewGuid():N}.kubeconfig");
                WriteKubeconfig(path);
                _ownsKubeconfig = true;
            }

            return _kubeconfigPath!;
        }
    }

    /// <summary>Starts an emulator on 127.0.0.1 with a free port.</summary>
    public static async Task<KubeApiEmulator> StartAsync(KubeApiEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new KubeApiEmulatorOptions();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(KubeApiEmulator).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        // The RBAC mode serves https (kubectl sends bearer tokens only over TLS); otherwise plain http.
        var certificate = options.Authorization == AuthorizationMode.Rbac ? ServingCertificate.Create() : null;
        if (certificate is null)
        {
            builder.WebHost.UseUrls($"http://127.0.0.1:{options.Port}");
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 64 * 1024 * 1024;
            k.AllowSynchronousIO = false;
            if (certificate is not null)
            {
                k.Listen(System.Net.IPAddress.Loopback, options.Port, listen => listen.UseHttps(certificate));
            }
        });
        var app = builder.Build();

        var store = new ObjectStore(options.EventHistory);
        var registry = new ResourceRegistry();
        var validator = new CustomResourceValidator();
        var ops = new ApiOperations(store, registry, validator, options.TimeProvider, options.RequireNamespaces);
        var log = new RequestLog();
        var faults = new FaultInjector(store);
        var authenticator = new TokenAuthenticator();
        var handler = new ApiHandler(ops, log, faults, options, authenticator, new RbacAuthorizer(registry));
        app.Run(handler.HandleAsync);

        var emulator = new KubeApiEmulator(app, ops, log, faults, validator, options) { Authenticator = authenticator, ServerCertificate = certificate };
        if (options.Authorization == AuthorizationMode.Rbac)
        {
            foreach (var policy in RbacAuthorizer.BootstrapPolicy())
            {
                await emulator.CreateAsync(policy, cancellationToken);
            }
        }

        foreach (var ns in options.InitialNamespaces)
        {
            await ops.CreateAsync(registry.Find("", "v1", "namespaces")!, "", new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } }, WriteOptions.Default, cancellationToken);
        }

        foreach (var path in options.CrdPaths)
        {
            await emulator.ApplyCrdFromFileAsync(path, cancellationToken);
        }

        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        emulator.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        handler.ServerAddress = emulator.BaseAddress.Authority;
        return emulator;
    }

    /// <summary>The self-signed certificate served in the RBAC mode (null when serving plain http); trust it to call <see cref="BaseAddress"/>.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; private init; }

    /// <summary>An HttpClient for <see cref="BaseAddress"/> that trusts <see cref="ServerCertificate"/> and sends <paramref name="token"/> if given.</summary>
    public HttpClient CreateHttpClient(string? token = null)
    {
        var handler = new HttpClientHandler();
        if (ServerCertificate is { } trusted)
        {
            handler.ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == trusted.Thumbprint;
        }

        var http = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>Bearer tokens and their users (used in the RBAC mode).</summary>
    public TokenAuthenticator Authenticator { get; private init; } = null!;

    /// <summary>
    /// A token that authenticates as the ServiceAccount <paramref name="ns"/>/<paramref name="name"/>: user
    /// <c>system:serviceaccount:NS:NAME</c>, groups <c>system:serviceaccounts</c>, <c>system:serviceaccounts:NS</c>,
    /// <c>system:authenticated</c>. Its requests are authorized by RBAC when <see cref="KubeApiEmulatorOptions.Authorization"/> is Rbac.
    /// </summary>
    public string IssueServiceAccountToken(string ns, string name) => Authenticator.IssueServiceAccountToken(ns, name);

    /// <summary>Writes a kubeconfig that authenticates as the ServiceAccount <paramref name="ns"/>/<paramref name="name"/> and returns the path.</summary>
    public string WriteServiceAccountKubeconfig(string path, string ns, string name)
    {
        File.WriteAllText(path, Kubeconfig.Render(BaseAddress, IssueServiceAccountToken(ns, name), ns, ServerCertificate));
        return path;
    }

    /// <summary>Writes a kubeconfig for this server (as the administrator) to <paramref name="path"/> and returns the path.</summary>
    public string WriteKubeconfig(string path)
    {
        File.WriteAllText(path, Kubeconfig.Render(BaseAddress, certificate: ServerCertificate));
        _kubeconfigPath = path;
        _ownsKubeconfig = false;
        return path;
    }

    /// <summary>Creates or updates every object in a YAML file (or every *.yaml/*.yml in a directory), as <c>kubectl apply</c> would.</summary>
    public async Task<IReadOnlyList<JsonObject>> ApplyManifestsAsync(string path, CancellationToken cancellationToken = default)
    {
        var files = Directory.Exists(path)
            ? Directory.EnumerateFiles(path).Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList()
            : [path];
        var result = new List<JsonObject>();
        foreach (var file in files)
        {
            foreach (var doc in YamlJson.ParseAll(await File.ReadAllTextAsync(file, cancellationToken)).OfType<JsonObject>())
            {
                result.Add(await UpsertAsync(doc, cancellationToken));
            }
        }

        return result;
    }

    /// <summary>Loads CustomResourceDefinitions from a YAML file or a directory of them; their resources are served at once.</summary>
    public Task<IReadOnlyList<JsonObject>> ApplyCrdFromFileAsync(string path, CancellationToken cancellationToken = default) => ApplyManifestsAsync(path, cancellationToken);

    /// <summary>Synchronous form of <see cref="ApplyCrdFromFileAsync"/>.</summary>
    public IReadOnlyList<JsonObject> ApplyCrdFromFile(string path) => ApplyCrdFromFileAsync(path).GetAwaiter().GetResult();

    /// <summary>Creates <paramref name="obj"/>, or replaces the spec/metadata of an existing object of the same name.</summary>
    public async Task<JsonObject> UpsertAsync(JsonObject obj, CancellationToken cancellationToken = default)
    {
        var r = Resolve((string?)obj["apiVersion"], (string?)obj["kind"]);
        var ns = r.Namespaced ? (string?)obj["metadata"]?["namespace"] ?? "default" : "";
        var name = (string?)obj["metadata"]?["name"] ?? "";
        if (name.Length > 0 && r.Collection.Get(ns, name) is not null)
        {
            var merged = (JsonObject)Patching.JsonMergePatch.Apply(r.Collection.Get(ns, name)!.ToJsonObject(), obj.DeepClone())!;
            return Parse((await Operations.UpdateAsync(r, ns, name, merged, null, WriteOptions.Default, cancellationToken)).Json);
        }

        return Parse((await Operations.CreateAsync(r, ns, obj.DeepClone().AsObject(), WriteOptions.Default, cancellationToken)).Json);
    }

    /// <summary>Creates an object (the same path as a POST).</summary>
    public async Task<JsonObject> CreateAsync(JsonObject obj, CancellationToken cancellationToken = default)
    {
        var r = Resolve((string?)obj["apiVersion"], (string?)obj["kind"]);
        var ns = r.Namespaced ? (string?)obj["metadata"]?["namespace"] ?? "default" : "";
        return Parse((await Operations.CreateAsync(r, ns, obj.DeepClone().AsObject(), WriteOptions.Default, cancellationToken)).Json);
    }

    /// <summary>The stored object, or null.</summary>
    public JsonObject? GetObject(string apiVersion, string kind, string? ns, string name)
    {
        var r = Resolve(apiVersion, kind);
        return r.Collection.Get(r.Namespaced ? ns ?? "default" : "", name) is { } o ? Parse(Operations.Render(r, o)) : null;
    }

    /// <summary>All stored objects of a kind (optionally in one namespace), sorted by namespace/name.</summary>
    public IReadOnlyList<JsonObject> ListObjects(string apiVersion, string kind, string? ns = null)
    {
        var r = Resolve(apiVersion, kind);
        return Store.Snapshot(r.Collection, ns).Items.Select(o => Parse(Operations.Render(r, o))).ToList();
    }

    /// <summary>Changes an object through the main resource (or <c>status</c>) with retry on concurrent writes.</summary>
    public async Task<JsonObject> UpdateAsync(string apiVersion, string kind, string? ns, string name, Action<JsonObject> change,
        string? subresource = null, CancellationToken cancellationToken = default) =>
        Parse((await WriteAsync(apiVersion, kind, ns, name, change, subresource, cancellationToken)).Json);

    /// <summary><see cref="UpdateAsync"/> for callers that do not read the result back (spares parsing it).</summary>
    internal Task<WriteResult> WriteAsync(string apiVersion, string kind, string? ns, string name, Action<JsonObject> change,
        string? subresource, CancellationToken cancellationToken)
    {
        var r = Resolve(apiVersion, kind);
        return Operations.MutateAsync(r, r.Namespaced ? ns ?? "default" : "", name, subresource, WriteOptions.Default, o =>
        {
            change(o);
            o["metadata"]!.AsObject().Remove("resourceVersion");
            return o;
        }, cancellationToken);
    }

    /// <summary>Changes an object's status through the status subresource.</summary>
    public Task<JsonObject> UpdateStatusAsync(string apiVersion, string kind, string? ns, string name, Action<JsonObject> change, CancellationToken cancellationToken = default) =>
        UpdateAsync(apiVersion, kind, ns, name, change, "status", cancellationToken);

    /// <summary>Deletes an object (honouring finalizers and propagation).</summary>
    public async Task DeleteAsync(string apiVersion, string kind, string? ns, string name, PropagationPolicy? propagation = null, CancellationToken cancellationToken = default)
    {
        var r = Resolve(apiVersion, kind);
        await Operations.DeleteAsync(r, r.Namespaced ? ns ?? "default" : "", name, new DeleteOptions(propagation), cancellationToken);
    }

    private ApiResource Resolve(string? apiVersion, string? kind) =>
        Registry.FindByKind(apiVersion ?? "", kind ?? "") ?? throw ApiException.BadRequest($"no kind \"{kind}\" is registered for version \"{apiVersion}\"");

    private static JsonObject Parse(byte[] json) => JsonNode.Parse(json)!.AsObject();

    public async ValueTask DisposeAsync()
    {
        await Kubelet.DisposeAsync();
        Store.DropWatches();
        await _app.StopAsync(TimeSpan.FromSeconds(2));
        await _app.DisposeAsync();
        await _validator.DisposeAsync();
        if (_ownsKubeconfig && _kubeconfigPath is not null)
        {
            File.Delete(_kubeconfigPath);
        }
    }
}
