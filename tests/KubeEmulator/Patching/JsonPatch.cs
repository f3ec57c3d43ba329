using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Errors;

namespace Ferry.KubeEmulator.Patching;

/// <summary>RFC 6902 JSON patch (<c>application/json-patch+json</c>): add, remove, replace, move, copy, test.</summary>
/// <remarks>https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/#use-a-json-patch-to-update-a-deployment</remarks>
public static class JsonPatch
{
    public static JsonNode Apply(JsonNode document, JsonNode? patch)
    {
        if (patch is not JsonArray ops)
        {
            throw ApiException.BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        }

        var root = new JsonObject { ["doc"] = document.DeepClone() };
        foreach (var opNode in ops)
        {
            if (opNode is not JsonObject op)
            {
                throw ApiException.BadRequest("invalid JSON patch operation");
            }

            var kind = (string?)op["op"] ?? throw ApiException.BadRequest("missing 'op' in JSON patch operation");
            var path = (string?)op["path"] ?? throw ApiException.BadRequest($"missing 'path' in JSON patch operation {kind}");
            switch (kind)
            {
                case "add":
                    Add(root, path, op["value"]?.DeepClone(), true);
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Remove(root, path);
                    Add(root, path, op["value"]?.DeepClone(), false);
                    break;
                case "move":
                    {
                        var from = (string?)op["from"] ?? throw ApiException.BadRequest("missing 'from' in move");
                        var value = Remove(root, from);
                        Add(root, path, value, true);
                        break;
                    }

                case "copy":
                    {
                        var from = (string?)op["from"] ?? throw ApiException.BadRequest("missing 'from' in copy");
                        Add(root, path, Get(root, from)?.DeepClone(), true);
                        break;
                    }

                case "test":
                    if (!JsonNode.DeepEquals(Get(root, path), op["value"]))
                    {
                        throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: testing value {path} failed");
                    }

                    break;
                default:
                    throw ApiException.BadRequest($"Unexpected kind: {kind}");
            }
        }

        return root["doc"]!;
    }

    private static List<string> Tokens(string pointer)
    {
        if (pointer.Length > 0 && pointer[0] != '/')
        {
            throw ApiException.BadRequest($"invalid JSON pointer: {pointer}");
        }

        var tokens = new List<string> { "doc" };
        if (pointer.Length > 0)
        {
            tokens.AddRange(pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)));
        }

        return tokens;
    }

    private static (JsonNode Parent, string Last) Parent(JsonObject root, string pointer)
    {
        var tokens = Tokens(pointer);
        JsonNode current = root;
        foreach (var t in tokens.Take(tokens.Count - 1))
        {
            current = Child(current, t) ?? throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: jsonpatch: path {pointer} does not exist");
        }

        return (current, tokens[^1]);
    }

    private static JsonNode? Child(JsonNode node, string token) => node switch
    {
        JsonObject o => o[token],
        JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count => a[i],
        _ => null,
    };

    private static JsonNode? Get(JsonObject root, string pointer)
    {
        var (parent, last) = Parent(root, pointer);
        return Child(parent, last);
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value, bool insert)
    {
        var (parent, last) = Parent(root, pointer);
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a:
                if (last == "-")
                {
                    a.Add(value);
                }
                else if (int.TryParse(last, out var i) && i >= 0 && i <= a.Count)
                {
                    a.Insert(i, value);
                }
                else
                {
                    throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: jsonpatch: index out of range in {pointer}");
                }

                break;
            default:
                throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: jsonpatch add operation does not apply: doc is missing path: \"{pointer}\"");
        }

        _ = insert;
    }

    private static JsonNode? Remove(JsonObject root, string pointer)
    {
        var (parent, last) = Parent(root, pointer);
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(last):
                var v = o[last];
                o.Remove(last);
                return v;
            case JsonArray a when int.TryParse(last, out var i) && i >= 0 && i < a.Count:
                var item = a[i];
                a.RemoveAt(i);
                return item;
            default:
                throw new ApiException(422, "Invalid", $"the server rejected our request due to an error in our request: jsonpatch remove operation does not apply: doc is missing path: \"{pointer}\"");
        }
    }
}
