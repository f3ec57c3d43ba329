using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Ferry.Operator.Runtime.Resources;

/// <summary>
/// <see cref="IResourceClient{T}"/> over KubernetesClient's custom-objects API, which addresses any kind by
/// group/version/plural (the core group maps to <c>/api/v1</c>), so one implementation serves pods, leases and
/// TrainingJobs alike.
/// </summary>
public sealed class KubernetesResourceClient<T> : IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly IKubernetes _kubernetes;
    private readonly int _watchTimeoutSeconds;

    /// <summary>Creates a client for the kind named by <typeparamref name="T"/>'s <see cref="KubernetesEntityAttribute"/>.</summary>
    public KubernetesResourceClient(IKubernetes kubernetes)
        : this(kubernetes, ResourceKind.For<T>())
    {
    }

    /// <summary>Creates a client for an explicit kind.</summary>
    /// <param name="kubernetes">The API connection.</param>
    /// <param name="kind">Where the kind lives.</param>
    /// <param name="watchTimeoutSeconds">Server-side lifetime of one watch request; the informer resumes after it.</param>
    public KubernetesResourceClient(IKubernetes kubernetes, ResourceKind kind, int watchTimeoutSeconds = 300)
    {
        _kubernetes = kubernetes;
        Kind = kind;
        _watchTimeoutSeconds = watchTimeoutSeconds;
    }

    /// <inheritdoc />
    public ResourceKind Kind { get; }

    /// <inheritdoc />
    public async Task<ResourceList<T>> ListAsync(string? ns, string? labelSelector = null, CancellationToken cancellationToken = default)
    {
        var items = new List<T>();
        string? continueToken = null;
        string resourceVersion;
        do
        {
            var body = await Call(() => ns is null || !Kind.Namespaced
                ? _kubernetes.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(
                    Kind.Group, Kind.Version, Kind.Plural, continueParameter: continueToken, labelSelector: labelSelector, limit: 500,
                    cancellationToken: cancellationToken)
                : _kubernetes.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                    Kind.Group, Kind.Version, ns, Kind.Plural, continueParameter: continueToken, labelSelector: labelSelector, limit: 500,
                    cancellationToken: cancellationToken)).ConfigureAwait(false);
            var list = Deserialize<GenericList>(body);
            foreach (var item in list.Items)
            {
                items.Add(item);
            }

            resourceVersion = list.Metadata?.ResourceVersion ?? "";
            continueToken = string.IsNullOrEmpty(list.Metadata?.ContinueProperty) ? null : list.Metadata.ContinueProperty;
        }
        while (continueToken is not null);

        return new ResourceList<T>(items, resourceVersion);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<WatchEvent<T>> WatchAsync(
        string? ns, string resourceVersion, string? labelSelector = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Raw HTTP: the generated list-with-watch call buffers its first line and hides the stream, which would defeat
        // the informer's idle timeout and its handling of ERROR events.
        var kubernetes = _kubernetes as Kubernetes
            ?? throw new NotSupportedException("Watching needs a k8s.Kubernetes connection (it streams over its HttpClient).");
        var query = new List<string> { "watch=true", "allowWatchBookmarks=true", $"timeoutSeconds={_watchTimeoutSeconds}" };
        if (!string.IsNullOrEmpty(resourceVersion))
        {
            query.Add("resourceVersion=" + Uri.EscapeDataString(resourceVersion));
        }

        if (!string.IsNullOrEmpty(labelSelector))
        {
            query.Add("labelSelector=" + Uri.EscapeDataString(labelSelector));
        }

        var baseUri = kubernetes.BaseUri.ToString().TrimEnd('/');
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{baseUri}{CollectionPath(ns)}?{string.Join('&', query)}");
        if (kubernetes.Credentials is not null)
        {
            await kubernetes.Credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        using var response = await kubernetes.HttpClient
            .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var content = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw Translate(response.StatusCode, content, null);
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(stream);
        while (true)
        {
            var line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                yield break;
            }

            if (line.Length == 0)
            {
                continue;
            }

            yield return ParseWatchLine(line);
        }
    }

    private string CollectionPath(string? ns)
    {
        var root = Kind.Group.Length == 0 ? $"/api/{Kind.Version}" : $"/apis/{Kind.Group}/{Kind.Version}";
        return Namespaced(ns) ? $"{root}/namespaces/{Uri.EscapeDataString(ns!)}/{Kind.Plural}" : $"{root}/{Kind.Plural}";
    }

    /// <summary>Parses one line of a watch stream: <c>{"type":…,"object":…}</c>.</summary>
    internal static WatchEvent<T> ParseWatchLine(string line)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        var typeText = root.TryGetProperty("type", out var typeElement) ? typeElement.GetString() : null;
        var type = typeText?.ToUpperInvariant() switch
        {
            "ADDED" => WatchEventType.Added,
            "MODIFIED" => WatchEventType.Modified,
            "DELETED" => WatchEventType.Deleted,
            "BOOKMARK" => WatchEventType.Bookmark,
            "ERROR" => WatchEventType.Error,
            _ => throw new InvalidDataException($"Watch event has an unknown type '{typeText}'."),
        };
        if (!root.TryGetProperty("object", out var objectElement))
        {
            throw new InvalidDataException($"Watch event of type {typeText} has no object.");
        }

        var raw = objectElement.GetRawText();
        return type == WatchEventType.Error
            ? new WatchEvent<T>(type, null, KubernetesJson.Deserialize<V1Status>(raw))
            : new WatchEvent<T>(type, KubernetesJson.Deserialize<T>(raw));
    }

    /// <inheritdoc />
    public async Task<T?> GetAsync(string? ns, string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var body = await Call(() => Namespaced(ns)
                ? _kubernetes.CustomObjects.GetNamespacedCustomObjectWithHttpMessagesAsync(
                    Kind.Group, Kind.Version, ns!, Kind.Plural, name, cancellationToken: cancellationToken)
                : _kubernetes.CustomObjects.GetClusterCustomObjectWithHttpMessagesAsync(
                    Kind.Group, Kind.Version, Kind.Plural, name, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return Deserialize<T>(body);
        }
        catch (KubernetesApiException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<T> CreateAsync(T obj, CancellationToken cancellationToken = default)
    {
        Stamp(obj);
        var ns = obj.Metadata?.NamespaceProperty;
        var body = await Call(() => Namespaced(ns)
            ? _kubernetes.CustomObjects.CreateNamespacedCustomObjectWithHttpMessagesAsync(
                obj, Kind.Group, Kind.Version, ns!, Kind.Plural, cancellationToken: cancellationToken)
            : _kubernetes.CustomObjects.CreateClusterCustomObjectWithHttpMessagesAsync(
                obj, Kind.Group, Kind.Version, Kind.Plural, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return Deserialize<T>(body);
    }

    /// <inheritdoc />
    public async Task<T> ReplaceAsync(T obj, CancellationToken cancellationToken = default)
    {
        Stamp(obj);
        var (ns, name) = NameOf(obj);
        var body = await Call(() => Namespaced(ns)
            ? _kubernetes.CustomObjects.ReplaceNamespacedCustomObjectWithHttpMessagesAsync(
                obj, Kind.Group, Kind.Version, ns!, Kind.Plural, name, cancellationToken: cancellationToken)
            : _kubernetes.CustomObjects.ReplaceClusterCustomObjectWithHttpMessagesAsync(
                obj, Kind.Group, Kind.Version, Kind.Plural, name, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return Deserialize<T>(body);
    }

    /// <inheritdoc />
    public async Task<T> PatchAsync(string? ns, string name, V1Patch patch, CancellationToken cancellationToken = default)
    {
        var body = await Call(() => Namespaced(ns)
            ? _kubernetes.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync(
                patch, Kind.Group, Kind.Version, ns!, Kind.Plural, name, cancellationToken: cancellationToken)
            : _kubernetes.CustomObjects.PatchClusterCustomObjectWithHttpMessagesAsync(
                patch, Kind.Group, Kind.Version, Kind.Plural, name, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return Deserialize<T>(body);
    }

    /// <inheritdoc />
    public async Task<T> PatchStatusAsync(string? ns, string name, V1Patch patch, CancellationToken cancellationToken = default)
    {
        var body = await Call(() => Namespaced(ns)
            ? _kubernetes.CustomObjects.PatchNamespacedCustomObjectStatusWithHttpMessagesAsync(
                patch, Kind.Group, Kind.Version, ns!, Kind.Plural, name, cancellationToken: cancellationToken)
            : _kubernetes.CustomObjects.PatchClusterCustomObjectStatusWithHttpMessagesAsync(
                patch, Kind.Group, Kind.Version, Kind.Plural, name, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return Deserialize<T>(body);
    }

    /// <inheritdoc />
    public async Task<T> ReplaceStatusAsync(T obj, CancellationToken cancellationToken = default)
    {
        Stamp(obj);
        var (ns, name) = NameOf(obj);
        var body = await Call(() => Namespaced(ns)
            ? _kubernetes.CustomObjects.ReplaceNamespacedCustomObjectStatusWithHttpMessagesAsync(
                obj, Kind.Group, Kind.Version, ns!, Kind.Plural, name, cancellationToken: cancellationToken)
            : _kubernetes.CustomObjects.ReplaceClusterCustomObjectStatusWithHttpMessagesAsync(
                obj, Kind.Group, Kind.Version, Kind.Plural, name, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return Deserialize<T>(body);
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string? ns, string name, V1DeleteOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            await Call(() => Namespaced(ns)
                ? _kubernetes.CustomObjects.DeleteNamespacedCustomObjectWithHttpMessagesAsync(
                    Kind.Group, Kind.Version, ns!, Kind.Plural, name, options, cancellationToken: cancellationToken)
                : _kubernetes.CustomObjects.DeleteClusterCustomObjectWithHttpMessagesAsync(
                    Kind.Group, Kind.Version, Kind.Plural, name, options, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (KubernetesApiException e) when (e.IsNotFound)
        {
            return false;
        }
    }

    private bool Namespaced(string? ns) => Kind.Namespaced && ns is not null;

    private (string? Namespace, string Name) NameOf(T obj)
    {
        var name = obj.Metadata?.Name;
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException($"{Kind.Kind} has no metadata.name; set it before writing.", nameof(obj));
        }

        return (obj.Metadata!.NamespaceProperty, name);
    }

    // The custom-objects API posts the body as-is, so apiVersion/kind must be on it.
    private void Stamp(T obj)
    {
        obj.ApiVersion ??= Kind.ApiVersion;
        obj.Kind ??= Kind.Kind;
    }

    private static async Task<object> Call(Func<Task<HttpOperationResponse<object>>> request)
    {
        try
        {
            using var response = await request().ConfigureAwait(false);
            return response.Body;
        }
        catch (HttpOperationException e)
        {
            throw Translate(e);
        }
    }

    private static KubernetesApiException Translate(HttpOperationException e) =>
        Translate(e.Response?.StatusCode ?? HttpStatusCode.InternalServerError, e.Response?.Content, e);

    private static KubernetesApiException Translate(HttpStatusCode code, string? content, Exception? inner)
    {
        V1Status? status = null;
        if (!string.IsNullOrEmpty(content))
        {
            try
            {
                status = KubernetesJson.Deserialize<V1Status>(content);
            }
            catch (JsonException)
            {
                // Not a Status body (e.g. a proxy's HTML page); the HTTP code still says what happened.
            }
        }

        var message = status?.Message ?? (string.IsNullOrEmpty(content) ? inner?.Message ?? "no details" : content);
        return new KubernetesApiException(code, $"Kubernetes API answered {(int)code} {code}: {message}", status, inner);
    }

    private static TResult Deserialize<TResult>(object body) => body switch
    {
        JsonElement element => KubernetesJson.Deserialize<TResult>(element.GetRawText()),
        string text => KubernetesJson.Deserialize<TResult>(text),
        _ => KubernetesJson.Deserialize<TResult>(KubernetesJson.Serialize(body)),
    };

    private sealed class GenericList
    {
        [System.Text.Json.Serialization.JsonPropertyName("metadata")]
        public V1ListMeta? Metadata { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("items")]
        public List<T> Items { get; set; } = [];
    }
}
