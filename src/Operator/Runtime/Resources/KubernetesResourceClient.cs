using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Runtime.Resources;

/// <summary>
/// <see cref="IResourceClient{T}"/> over the Kubernetes REST paths of any kind (group/version/plural; the core group
/// maps to <c>/api/v1</c>), so one implementation serves pods, leases and TrainingJobs alike. Requests go through the
/// connection's HttpClient (its authentication, TLS and rate-limiting handlers); bodies are serialized to and read
/// from UTF-8 directly, without the intermediate strings and documents of the generic custom-objects API, because
/// at scale the operator's cost is mostly reading API answers and watch events.
/// </summary>
public sealed class KubernetesResourceClient<T> : IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");

    private readonly Kubernetes _kubernetes;
    private readonly string _baseUri;
    private readonly int _watchTimeoutSeconds;
    private readonly IReadOnlySet<string>? _omitOnWatch;

    /// <summary>Creates a client for the kind named by <typeparamref name="T"/>'s <see cref="KubernetesEntityAttribute"/>.</summary>
    public KubernetesResourceClient(IKubernetes kubernetes)
        : this(kubernetes, ResourceKind.For<T>())
    {
    }

    /// <summary>Creates a client for an explicit kind.</summary>
    /// <param name="kubernetes">The API connection (a <see cref="Kubernetes"/>: requests stream over its HttpClient).</param>
    /// <param name="kind">Where the kind lives.</param>
    /// <param name="watchTimeoutSeconds">Server-side lifetime of one watch request; the informer resumes after it.</param>
    public KubernetesResourceClient(IKubernetes kubernetes, ResourceKind kind, int watchTimeoutSeconds = 300)
    {
        _kubernetes = kubernetes as Kubernetes
            ?? throw new NotSupportedException("KubernetesResourceClient needs a k8s.Kubernetes connection (it streams over its HttpClient).");
        _baseUri = _kubernetes.BaseUri.ToString().TrimEnd('/');
        Kind = kind;
        _watchTimeoutSeconds = watchTimeoutSeconds;
    }

    private KubernetesResourceClient(KubernetesResourceClient<T> other, IReadOnlySet<string> omitOnWatch)
    {
        _kubernetes = other._kubernetes;
        _baseUri = other._baseUri;
        Kind = other.Kind;
        _watchTimeoutSeconds = other._watchTimeoutSeconds;
        _omitOnWatch = omitOnWatch;
    }

    /// <inheritdoc />
    public ResourceKind Kind { get; }

    /// <summary>
    /// A client for the same kind whose watch events come without the top-level fields <paramref name="fields"/>
    /// (e.g. a pod's <c>spec</c>): they are cut from each event's bytes before deserializing, so a reader that never
    /// uses them does not pay for parsing them. Everything but <see cref="WatchAsync"/> is unchanged.
    /// </summary>
    public KubernetesResourceClient<T> OmittingOnWatch(IEnumerable<string> fields) =>
        new(this, fields.ToHashSet(StringComparer.Ordinal));

    /// <inheritdoc />
    public async Task<ResourceList<T>> ListAsync(string? ns, string? labelSelector = null, CancellationToken cancellationToken = default)
    {
        var items = new List<T>();
        string? continueToken = null;
        string resourceVersion;
        do
        {
            var query = new List<string> { "limit=500" };
            AddQuery(query, "labelSelector", labelSelector);
            AddQuery(query, "continue", continueToken);
            var list = await SendAsync<GenericList>(HttpMethod.Get, $"{CollectionPath(Namespaced(ns) ? ns : null)}?{string.Join('&', query)}", null, null, cancellationToken)
                .ConfigureAwait(false);
            items.AddRange(list.Items);
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
        // Streamed line by line, so the informer sees each event (and ERROR events) as it arrives and its idle timeout works.
        var query = new List<string> { "watch=true", "allowWatchBookmarks=true", $"timeoutSeconds={_watchTimeoutSeconds}" };
        AddQuery(query, "resourceVersion", string.IsNullOrEmpty(resourceVersion) ? null : resourceVersion);
        AddQuery(query, "labelSelector", labelSelector);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{_baseUri}{CollectionPath(Namespaced(ns) ? ns : null)}?{string.Join('&', query)}");
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        // Lines are cut from the UTF-8 bytes and parsed in place: no string per event.
        var reader = PipeReader.Create(stream);
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    var line = buffer.Slice(0, end);
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                    if (!IsBlank(line))
                    {
                        yield return ParseWatchLine(line, _omitOnWatch);
                    }
                }

                if (result.IsCompleted)
                {
                    if (!IsBlank(buffer))
                    {
                        yield return ParseWatchLine(buffer, _omitOnWatch);
                    }

                    yield break;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static bool IsBlank(ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\r' or (byte)'\t'))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Parses one line of a watch stream: <c>{"type":…,"object":…}</c>.</summary>
    internal static WatchEvent<T> ParseWatchLine(string line) => ParseWatchLine(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line)));

    /// <summary>
    /// Parses one line of a watch stream from its UTF-8 bytes: the event type is peeked first (the API server writes it
    /// first), then the line is deserialized once, straight into the typed object (or the Status of an ERROR event).
    /// </summary>
    internal static WatchEvent<T> ParseWatchLine(ReadOnlySequence<byte> line, IReadOnlySet<string>? omit = null)
    {
        var typeText = PeekType(line);
        var type = typeText?.ToUpperInvariant() switch
        {
            "ADDED" => WatchEventType.Added,
            "MODIFIED" => WatchEventType.Modified,
            "DELETED" => WatchEventType.Deleted,
            "BOOKMARK" => WatchEventType.Bookmark,
            "ERROR" => WatchEventType.Error,
            _ => throw new InvalidDataException($"Watch event has an unknown type '{typeText}'."),
        };
        using var stream = AsStream(line);
        if (type == WatchEventType.Error)
        {
            var error = KubernetesJson.Deserialize<WatchLine<V1Status>>(stream);
            return new WatchEvent<T>(type, null, error?.Object ?? throw new InvalidDataException("Watch event of type ERROR has no object."));
        }

        if (omit is { Count: > 0 } && ObjectWithout(line, omit) is { } trimmed)
        {
            using var objectStream = AsStream(new ReadOnlySequence<byte>(trimmed));
            return new WatchEvent<T>(type, KubernetesJson.Deserialize<T>(objectStream));
        }

        var parsed = KubernetesJson.Deserialize<WatchLine<T>>(stream);
        return new WatchEvent<T>(type, parsed?.Object ?? throw new InvalidDataException($"Watch event of type {typeText} has no object."));
    }

    /// <summary>The event's object re-written without its top-level properties in <paramref name="omit"/> (the others copied as raw bytes); null when there is no object.</summary>
    private static ReadOnlyMemory<byte>? ObjectWithout(ReadOnlySequence<byte> line, IReadOnlySet<string> omit)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isObject = reader.ValueTextEquals("object"u8);
            reader.Read();
            if (!isObject)
            {
                reader.Skip();
                continue;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            var output = new ArrayBufferWriter<byte>((int)Math.Min(line.Length, 64 * 1024));
            using (var writer = new Utf8JsonWriter(output))
            {
                writer.WriteStartObject();
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    reader.Read();
                    var start = reader.TokenStartIndex;
                    reader.Skip();
                    if (!omit.Contains(name))
                    {
                        writer.WritePropertyName(name);
                        writer.WriteRawValue(line.Slice(start, reader.BytesConsumed - start), skipInputValidation: true);
                    }
                }

                writer.WriteEndObject();
            }

            return output.WrittenMemory;
        }

        return null;
    }

    private static string? PeekType(ReadOnlySequence<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidDataException("A watch event is not a JSON object.");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isType = reader.ValueTextEquals("type"u8);
            reader.Read();
            if (isType)
            {
                return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }

            reader.Skip();
        }

        return null;
    }

    private static MemoryStream AsStream(ReadOnlySequence<byte> bytes) =>
        bytes.IsSingleSegment && MemoryMarshal.TryGetArray(bytes.First, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(bytes.ToArray(), writable: false);

    /// <inheritdoc />
    public async Task<T?> GetAsync(string? ns, string name, CancellationToken cancellationToken = default)
    {
        try
        {
            return await SendAsync<T>(HttpMethod.Get, ItemPath(ns, name), null, null, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public Task<T> CreateAsync(T obj, CancellationToken cancellationToken = default)
    {
        Stamp(obj);
        var ns = obj.Metadata?.NamespaceProperty;
        return SendAsync<T>(HttpMethod.Post, CollectionPath(Namespaced(ns) ? ns : null), Json(obj), JsonMediaType, cancellationToken);
    }

    /// <inheritdoc />
    public Task<T> PatchAsync(string? ns, string name, V1Patch patch, CancellationToken cancellationToken = default) =>
        SendAsync<T>(HttpMethod.Patch, ItemPath(ns, name), PatchBody(patch), PatchMediaType(patch), cancellationToken);

    /// <inheritdoc />
    public Task<T> ReplaceStatusAsync(T obj, CancellationToken cancellationToken = default)
    {
        Stamp(obj);
        var (ns, name) = NameOf(obj);
        return SendAsync<T>(HttpMethod.Put, ItemPath(ns, name) + "/status", Json(obj), JsonMediaType, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string? ns, string name, V1DeleteOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Delete, _baseUri + ItemPath(ns, name));
            if (options is not null)
            {
                request.Content = Content(Json(options), JsonMediaType);
            }

            using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (KubernetesApiException e) when (e.IsNotFound)
        {
            return false;
        }
    }

    private bool Namespaced(string? ns) => Kind.Namespaced && ns is not null;

    private string CollectionPath(string? ns)
    {
        var root = Kind.Group.Length == 0 ? $"/api/{Kind.Version}" : $"/apis/{Kind.Group}/{Kind.Version}";
        return ns is not null ? $"{root}/namespaces/{Uri.EscapeDataString(ns)}/{Kind.Plural}" : $"{root}/{Kind.Plural}";
    }

    private string ItemPath(string? ns, string name) => $"{CollectionPath(Namespaced(ns) ? ns : null)}/{Uri.EscapeDataString(name)}";

    private static void AddQuery(List<string> query, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            query.Add($"{name}={Uri.EscapeDataString(value)}");
        }
    }

    private (string? Namespace, string Name) NameOf(T obj)
    {
        var name = obj.Metadata?.Name;
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException($"{Kind.Kind} has no metadata.name; set it before writing.", nameof(obj));
        }

        return (obj.Metadata!.NamespaceProperty, name);
    }

    // The body is posted as-is, so apiVersion/kind must be on it.
    private void Stamp(T obj)
    {
        obj.ApiVersion ??= Kind.ApiVersion;
        obj.Kind ??= Kind.Kind;
    }

    private static byte[] Json(object value) => Encoding.UTF8.GetBytes(KubernetesJson.Serialize(value));

    private static byte[] PatchBody(V1Patch patch) =>
        patch.Content is string text ? Encoding.UTF8.GetBytes(text) : Json(patch.Content);

    private static MediaTypeHeaderValue PatchMediaType(V1Patch patch) => new(patch.Type switch
    {
        V1Patch.PatchType.JsonPatch => "application/json-patch+json",
        V1Patch.PatchType.MergePatch => "application/merge-patch+json",
        V1Patch.PatchType.StrategicMergePatch => "application/strategic-merge-patch+json",
        V1Patch.PatchType.ApplyPatch => "application/apply-patch+yaml",
        _ => throw new ArgumentException($"Unsupported patch type {patch.Type}.", nameof(patch)),
    });

    private static ByteArrayContent Content(byte[] body, MediaTypeHeaderValue mediaType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = mediaType;
        return content;
    }

    private async Task<TResult> SendAsync<TResult>(HttpMethod method, string path, byte[]? body, MediaTypeHeaderValue? mediaType, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, _baseUri + path);
        if (body is not null)
        {
            request.Content = Content(body, mediaType ?? JsonMediaType);
        }

        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return KubernetesJson.Deserialize<TResult>(stream)
            ?? throw new KubernetesApiException(response.StatusCode, $"Kubernetes API answered {(int)response.StatusCode} with an empty body to {method} {path}.", null);
    }

    /// <summary>Sends with the connection's credentials; a non-success answer becomes a <see cref="KubernetesApiException"/>.</summary>
    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_kubernetes.Credentials is not null)
        {
            await _kubernetes.Credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var response = await _kubernetes.HttpClient.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var content = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw Translate(response.StatusCode, content, null);
        }
    }

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

    private sealed class WatchLine<TObject>
    {
        [System.Text.Json.Serialization.JsonPropertyName("type")]
        public string? Type { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("object")]
        public TObject? Object { get; set; }
    }

    private sealed class GenericList
    {
        [System.Text.Json.Serialization.JsonPropertyName("metadata")]
        public V1ListMeta? Metadata { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("items")]
        public List<T> Items { get; set; } = [];
    }
}
