using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text;
using Ferry.KubeEmulator.Resources;

namespace Ferry.KubeEmulator.Discovery;

/// <summary>
/// /openapi/v3: an index with a serverRelativeURL per group-version, and per group-version documents with the served
/// paths (whose parameters include <c>fieldValidation</c>, which kubectl's QueryParamVerifierV3 looks for before it
/// relies on server-side validation) and the kinds' schemas (a CRD's openAPIV3Schema) tagged with x-kubernetes-group-version-kind.
/// </summary>
/// <remarks>https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-v3 and
/// https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation</remarks>
internal sealed class OpenApiDocuments(ResourceRegistry registry)
{
    private readonly ConcurrentDictionary<string, (int Generation, byte[] Json, string Hash)> _cache = new(StringComparer.Ordinal);

    /// <summary>The discovery path of a group-version: <c>api/v1</c> or <c>apis/group/version</c>.</summary>
    public static string PathOf(string groupVersion) => groupVersion.Contains('/') ? "apis/" + groupVersion : "api/" + groupVersion;

    public JsonObject Index()
    {
        var paths = new JsonObject();
        foreach (var gv in registry.GroupVersions)
        {
            var (_, hash) = Document(gv)!.Value;
            paths[PathOf(gv)] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{PathOf(gv)}?hash={hash}" };
        }

        return new JsonObject { ["paths"] = paths };
    }

    /// <summary>The document of one group-version (given as <c>v1</c> or <c>group/version</c>), or null if not served.</summary>
    public (byte[] Json, string Hash)? Document(string groupVersion)
    {
        var generation = registry.Generation;
        if (_cache.TryGetValue(groupVersion, out var cached) && cached.Generation == generation)
        {
            return (cached.Json, cached.Hash);
        }

        var resources = registry.All.Where(r => r.GroupVersion == groupVersion).ToList();
        if (resources.Count == 0)
        {
            return null;
        }

        var json = Serialization.JsonOutput.Bytes(Build(resources));
        var hash = Convert.ToHexString(SHA256.HashData(json))[..32];
        _cache[groupVersion] = (generation, json, hash);
        return (json, hash);
    }

    private static JsonObject Build(List<ApiResource> resources)
    {
        var paths = new JsonObject();
        var schemas = new JsonObject();
        foreach (var r in resources)
        {
            var gvk = new JsonObject { ["group"] = r.Group, ["kind"] = r.Kind, ["version"] = r.Version };
            var schemaName = SchemaName(r);
            var schemaRef = new JsonObject { ["$ref"] = $"#/components/schemas/{schemaName}" };
            var schema = r.Schema?.DeepClone().AsObject() ?? BuiltInSchema();
            schema["x-kubernetes-group-version-kind"] = new JsonArray(gvk.DeepClone());
            schemas[schemaName] = schema;
            schemas[schemaName + "List"] = new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["apiVersion"] = new JsonObject { ["type"] = "string" },
                    ["kind"] = new JsonObject { ["type"] = "string" },
                    ["items"] = new JsonObject { ["type"] = "array", ["items"] = schemaRef.DeepClone() },
                    ["metadata"] = new JsonObject { ["type"] = "object" },
                },
                ["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = r.Group, ["kind"] = r.ListKind, ["version"] = r.Version }),
            };

            var prefix = r.PathPrefix + (r.Namespaced ? "/namespaces/{namespace}/" : "/") + r.Plural;
            paths[prefix] = CollectionPath(r, gvk, schemaRef);
            paths[prefix + "/{name}"] = ItemPath(r, gvk, schemaRef, status: false);
            if (r.HasStatusSubresource)
            {
                paths[prefix + "/{name}/status"] = ItemPath(r, gvk, schemaRef, status: true);
            }

            if (r.Namespaced)
            {
                paths[r.PathPrefix + "/" + r.Plural] = new JsonObject
                {
                    ["get"] = Operation($"list{r.Kind}ForAllNamespaces", "list", gvk, schemaRef),
                };
            }
        }

        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = DiscoveryDocuments.GitVersion },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas },
        };
    }

    private static JsonObject CollectionPath(ApiResource r, JsonObject gvk, JsonObject schemaRef)
    {
        var item = new JsonObject
        {
            ["get"] = Operation($"list{Scope(r)}{r.Kind}", "list", gvk, schemaRef),
            ["post"] = Operation($"create{Scope(r)}{r.Kind}", "post", gvk, schemaRef, Body(schemaRef, "application/json", "application/yaml")),
            ["delete"] = Operation($"deletecollection{Scope(r)}{r.Kind}", "deletecollection", gvk, schemaRef),
            ["parameters"] = r.Namespaced
                ? Parameters("namespace")
                : Parameters(),
        };
        return item;
    }

    private static JsonObject ItemPath(ApiResource r, JsonObject gvk, JsonObject schemaRef, bool status)
    {
        var suffix = status ? "Status" : "";
        var patchTypes = new List<string> { "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml" };
        var item = new JsonObject
        {
            ["get"] = Operation($"read{Scope(r)}{r.Kind}{suffix}", "get", gvk, schemaRef),
            ["put"] = Operation($"replace{Scope(r)}{r.Kind}{suffix}", "put", gvk, schemaRef, Body(schemaRef, "application/json", "application/yaml")),
            ["patch"] = Operation($"patch{Scope(r)}{r.Kind}{suffix}", "patch", gvk, schemaRef, Body(new JsonObject { ["type"] = "object" }, [.. patchTypes])),
            ["parameters"] = r.Namespaced
                ? Parameters("name", "namespace")
                : Parameters("name"),
        };
        if (!status)
        {
            item["delete"] = Operation($"delete{Scope(r)}{r.Kind}", "delete", gvk, schemaRef);
        }

        return item;
    }

    private static string Scope(ApiResource r) => r.Namespaced ? "Namespaced" : "";

    private static JsonObject Operation(string id, string action, JsonObject gvk, JsonObject schemaRef, JsonObject? body = null)
    {
        var op = new JsonObject
        {
            ["operationId"] = id,
            ["responses"] = new JsonObject
            {
                ["200"] = new JsonObject
                {
                    ["description"] = "OK",
                    ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = schemaRef.DeepClone() } },
                },
            },
            ["x-kubernetes-action"] = action,
            ["x-kubernetes-group-version-kind"] = gvk.DeepClone(),
        };

        // kubectl's QueryParamVerifierV3 looks for fieldValidation among the PATCH operation's own query parameters.
        op["parameters"] = action switch
        {
            "patch" => Parameters("dryRun", "fieldManager", "fieldValidation", "force", "pretty"),
            "post" or "put" => Parameters("dryRun", "fieldManager", "fieldValidation", "pretty"),
            "list" or "deletecollection" => Parameters("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch", "pretty"),
            _ => Parameters("pretty"),
        };
        if (body is not null)
        {
            op["requestBody"] = body;
        }

        return op;
    }

    private static JsonObject Body(JsonObject schema, params string[] contentTypes)
    {
        var content = new JsonObject();
        foreach (var t in contentTypes)
        {
            content[t] = new JsonObject { ["schema"] = schema.DeepClone() };
        }

        return new JsonObject { ["content"] = content, ["required"] = true };
    }

    private static JsonArray Parameters(params string[] names)
    {
        var array = new JsonArray();
        foreach (var n in names)
        {
            array.Add(new JsonObject
            {
                ["name"] = n,
                ["in"] = n is "name" or "namespace" ? "path" : "query",
                ["description"] = n,
                ["required"] = n is "name" or "namespace",
                ["schema"] = new JsonObject { ["type"] = n is "limit" ? "integer" : n is "watch" or "force" ? "boolean" : "string", ["uniqueItems"] = true },
            });
        }

        return array;
    }

    private static string SchemaName(ApiResource r)
    {
        if (r.Group.Length == 0)
        {
            return $"io.k8s.api.core.{r.Version}.{r.Kind}";
        }

        var reversed = string.Join('.', r.Group.Split('.').Reverse());
        return r.IsCustom ? $"{reversed}.{r.Version}.{r.Kind}" : $"io.k8s.api.{r.Group.Split('.')[0]}.{r.Version}.{r.Kind}";
    }

    private static JsonObject BuiltInSchema() => new()
    {
        ["type"] = "object",
        ["x-kubernetes-preserve-unknown-fields"] = true,
        ["properties"] = new JsonObject
        {
            ["apiVersion"] = new JsonObject { ["type"] = "string" },
            ["kind"] = new JsonObject { ["type"] = "string" },
            ["metadata"] = new JsonObject { ["type"] = "object" },
        },
    };
}
