using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Ferry.KubeEmulator.Schema;

/// <summary>
/// The fields of the built-in kinds and of ObjectMeta, read from KubernetesClient's generated models (each property's
/// <c>JsonPropertyName</c>), which are generated from the apiserver's OpenAPI document. The apiserver's decoder drops a
/// field its Go type does not have; <see cref="Prune"/> does the same and reports each dropped field as the strict decoder
/// names it (<c>spec.containers[0].bar</c>).
/// </summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation. The models are those of the
/// KubernetesClient package the repository pins, which may know a few fields newer than 1.32.</remarks>
internal sealed class BuiltInFields
{
    private static readonly ConcurrentDictionary<Type, BuiltInFields> ByType = new();
    private static readonly Lazy<Dictionary<(string Group, string Version, string Kind), Type>> Kinds = new(FindKinds);

    private readonly Lazy<IReadOnlyDictionary<string, BuiltInFields>>? _properties;

    private BuiltInFields(NodeKind kind, BuiltInFields? element = null, Type? objectType = null)
    {
        Kind = kind;
        Element = element;
        if (objectType is not null)
        {
            _properties = new Lazy<IReadOnlyDictionary<string, BuiltInFields>>(() => PropertiesOf(objectType));
        }
    }

    private enum NodeKind { Leaf, Any, Object, Array, Map }

    private NodeKind Kind { get; }

    /// <summary>The item schema of an array, the value schema of a map.</summary>
    private BuiltInFields? Element { get; }

    /// <summary>The known fields of a built-in kind, or null when the kind has no model.</summary>
    public static BuiltInFields? ForKind(string group, string version, string kind) =>
        Kinds.Value.TryGetValue((group, version, kind), out var type) ? Of(type) : null;

    /// <summary>The fields of ObjectMeta (every kind's <c>metadata</c>).</summary>
    public static BuiltInFields ObjectMeta { get; } = Of(typeof(V1ObjectMeta));

    /// <summary>Removes the fields <paramref name="node"/> does not know, in document order, adding their paths (prefixed with
    /// <paramref name="path"/>) to <paramref name="unknown"/>.</summary>
    public void Prune(JsonNode? node, string path, List<string> unknown)
    {
        switch (Kind)
        {
            case NodeKind.Object when node is JsonObject o:
                var properties = _properties!.Value;
                foreach (var (key, value) in o.ToList())
                {
                    var childPath = path.Length == 0 ? key : path + "." + key;
                    if (properties.TryGetValue(key, out var property))
                    {
                        property.Prune(value, childPath, unknown);
                    }
                    else
                    {
                        o.Remove(key);
                        unknown.Add(childPath);
                    }
                }

                break;
            case NodeKind.Array when node is JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    Element!.Prune(a[i], $"{path}[{i}]", unknown);
                }

                break;
            case NodeKind.Map when node is JsonObject m:
                foreach (var (key, value) in m.ToList())
                {
                    Element!.Prune(value, path + "." + key, unknown);
                }

                break;
        }
    }

    private static BuiltInFields Of(Type type) => ByType.GetOrAdd(type, Create);

    private static BuiltInFields Create(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(object) || type == typeof(JsonElement) || type == typeof(JsonNode) || type == typeof(JsonObject))
        {
            return new BuiltInFields(NodeKind.Any);
        }

        if (type == typeof(string) || type.IsPrimitive || type.IsEnum || type == typeof(decimal) || type == typeof(DateTime)
            || type == typeof(DateTimeOffset) || type == typeof(byte[]) || type == typeof(IntOrString) || type == typeof(ResourceQuantity))
        {
            return new BuiltInFields(NodeKind.Leaf);
        }

        if (type.IsGenericType && type.GetGenericArguments() is { Length: 2 } kv && kv[0] == typeof(string)
            && typeof(System.Collections.IEnumerable).IsAssignableFrom(type))
        {
            return new BuiltInFields(NodeKind.Map, Of(kv[1]));
        }

        if (type.IsGenericType && type.GetGenericArguments() is { Length: 1 } item && typeof(System.Collections.IEnumerable).IsAssignableFrom(type))
        {
            return new BuiltInFields(NodeKind.Array, Of(item[0]));
        }

        if (type.IsArray)
        {
            return new BuiltInFields(NodeKind.Array, Of(type.GetElementType()!));
        }

        var hasJsonProperties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Any(p => p.GetCustomAttribute<JsonPropertyNameAttribute>() is not null);
        return hasJsonProperties ? new BuiltInFields(NodeKind.Object, objectType: type) : new BuiltInFields(NodeKind.Leaf);
    }

    private static Dictionary<string, BuiltInFields> PropertiesOf(Type type)
    {
        var result = new Dictionary<string, BuiltInFields>(StringComparer.Ordinal);
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetCustomAttribute<JsonPropertyNameAttribute>() is { } name)
            {
                result[name.Name] = Of(p.PropertyType);
            }
        }

        return result;
    }

    private static Dictionary<(string, string, string), Type> FindKinds()
    {
        var result = new Dictionary<(string, string, string), Type>();
        foreach (var type in typeof(V1Pod).Assembly.GetTypes())
        {
            if (type.GetCustomAttribute<KubernetesEntityAttribute>() is { } entity && !type.Name.EndsWith("List", StringComparison.Ordinal))
            {
                result.TryAdd((entity.Group ?? "", entity.ApiVersion ?? "", entity.Kind ?? ""), type);
            }
        }

        return result;
    }
}
