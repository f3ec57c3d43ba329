using System.Text;
using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Serialization;

/// <summary>
/// Decodes the Kubernetes protobuf envelope for the few kinds <c>kubectl create &lt;generator&gt;</c> sends as protobuf
/// (Namespace, ConfigMap, Secret, ServiceAccount): metadata (name, generateName, namespace, labels, annotations,
/// ownerReferences, finalizers) and their data fields. Other kinds are not decoded.
/// </summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding and the field numbers of
/// k8s.io/api/core/v1/generated.proto and k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.</remarks>
internal static class ProtobufManifest
{
    private static readonly byte[] Magic = "k8s\0"u8.ToArray();

    /// <summary>The object as JSON, or null when the envelope or the kind is not supported.</summary>
    public static JsonObject? TryDecode(byte[] body)
    {
        if (body.Length < Magic.Length || !body.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            return null;
        }

        string? apiVersion = null, kind = null;
        byte[]? raw = null;
        foreach (var (field, value) in Fields(body.AsMemory(Magic.Length)))
        {
            if (field == 1 && value is ReadOnlyMemory<byte> typeMeta)
            {
                foreach (var (f, v) in Fields(typeMeta))
                {
                    if (f == 1) { apiVersion = Text(v); }
                    if (f == 2) { kind = Text(v); }
                }
            }
            else if (field == 2 && value is ReadOnlyMemory<byte> r)
            {
                raw = r.ToArray();
            }
        }

        if (raw is not null && apiVersion == "authorization.k8s.io/v1" && kind == "SelfSubjectAccessReview")
        {
            return AccessReview(raw);
        }

        if (raw is null || apiVersion != "v1" || kind is not ("Namespace" or "ConfigMap" or "Secret" or "ServiceAccount"))
        {
            return null;
        }

        var obj = new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind };
        foreach (var (field, value) in Fields(raw))
        {
            var bytes = value as ReadOnlyMemory<byte>?;
            switch (kind, field)
            {
                case (_, 1):
                    obj["metadata"] = Metadata(bytes!.Value);
                    break;
                case ("Namespace", 2):
                    obj["spec"] = new JsonObject { ["finalizers"] = new JsonArray(Fields(bytes!.Value).Where(p => p.Field == 1).Select(p => (JsonNode?)Text(p.Value)).ToArray()) };
                    break;
                case ("ConfigMap", 2) or ("Secret", 4):
                    AddEntry(obj, kind == "ConfigMap" ? "data" : "stringData", bytes!.Value, base64: false);
                    break;
                case ("ConfigMap", 3) or ("Secret", 2):
                    AddEntry(obj, kind == "ConfigMap" ? "binaryData" : "data", bytes!.Value, base64: true);
                    break;
                case ("Secret", 3):
                    obj["type"] = Text(value);
                    break;
                case ("ConfigMap", 4) or ("Secret", 5):
                    obj["immutable"] = value is ulong b && b != 0;
                    break;
            }
        }

        return obj;
    }

    /// <summary>What <c>kubectl auth can-i</c> sends (k8s.io/api/authorization/v1/generated.proto: spec 2; resourceAttributes 1
    /// with namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7; nonResourceAttributes 2 with path 1, verb 2).</summary>
    private static JsonObject AccessReview(byte[] raw)
    {
        var spec = new JsonObject();
        foreach (var (field, value) in Fields(raw))
        {
            if (field != 2 || value is not ReadOnlyMemory<byte> specBytes)
            {
                continue;
            }

            foreach (var (f, v) in Fields(specBytes))
            {
                if (v is not ReadOnlyMemory<byte> attributes)
                {
                    continue;
                }

                string[] names = f == 1 ? ["namespace", "verb", "group", "version", "resource", "subresource", "name"] : ["path", "verb"];
                var target = new JsonObject();
                foreach (var (n, text) in Fields(attributes))
                {
                    if (n >= 1 && n <= names.Length && text is ReadOnlyMemory<byte>)
                    {
                        target[names[n - 1]] = Text(text);
                    }
                }

                spec[f == 1 ? "resourceAttributes" : "nonResourceAttributes"] = target;
            }
        }

        return new JsonObject { ["apiVersion"] = "authorization.k8s.io/v1", ["kind"] = "SelfSubjectAccessReview", ["metadata"] = new JsonObject(), ["spec"] = spec };
    }

    private static JsonObject Metadata(ReadOnlyMemory<byte> data)
    {
        var meta = new JsonObject();
        foreach (var (field, value) in Fields(data))
        {
            switch (field)
            {
                case 1: meta["name"] = Text(value); break;
                case 2: meta["generateName"] = Text(value); break;
                case 3: meta["namespace"] = Text(value); break;
                case 11: AddEntry(meta, "labels", (ReadOnlyMemory<byte>)value, base64: false); break;
                case 12: AddEntry(meta, "annotations", (ReadOnlyMemory<byte>)value, base64: false); break;
                case 13:
                    var owner = new JsonObject();
                    foreach (var (f, v) in Fields((ReadOnlyMemory<byte>)value))
                    {
                        switch (f)
                        {
                            case 1: owner["kind"] = Text(v); break;
                            case 3: owner["name"] = Text(v); break;
                            case 4: owner["uid"] = Text(v); break;
                            case 5: owner["apiVersion"] = Text(v); break;
                            case 6: owner["controller"] = v is ulong c && c != 0; break;
                            case 7: owner["blockOwnerDeletion"] = v is ulong b && b != 0; break;
                        }
                    }

                    if (meta["ownerReferences"] is not JsonArray refs)
                    {
                        meta["ownerReferences"] = refs = [];
                    }

                    refs.Add(owner);
                    break;
                case 14:
                    if (meta["finalizers"] is not JsonArray finalizers)
                    {
                        meta["finalizers"] = finalizers = [];
                    }

                    finalizers.Add(Text(value));
                    break;
            }
        }

        return meta;
    }

    private static void AddEntry(JsonObject target, string field, ReadOnlyMemory<byte> entry, bool base64)
    {
        string? key = null;
        JsonNode? value = "";
        foreach (var (f, v) in Fields(entry))
        {
            if (f == 1)
            {
                key = Text(v);
            }
            else if (f == 2)
            {
                value = base64 ? Convert.ToBase64String(((ReadOnlyMemory<byte>)v).Span) : Text(v);
            }
        }

        if (target[field] is not JsonObject map)
        {
            target[field] = map = [];
        }

        map[key ?? ""] = value;
    }

    private static string Text(object value) => value is ReadOnlyMemory<byte> m ? Encoding.UTF8.GetString(m.Span) : "";

    /// <summary>Top-level fields of a protobuf message: varints as ulong, length-delimited as bytes (fixed-width skipped).</summary>
    private static List<(int Field, object Value)> Fields(ReadOnlyMemory<byte> data)
    {
        var result = new List<(int, object)>();
        var span = data.Span;
        var i = 0;
        while (i < span.Length)
        {
            var tag = Varint(span, ref i);
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    result.Add((field, Varint(span, ref i)));
                    break;
                case 1:
                    i += 8;
                    break;
                case 2:
                    var length = (int)Varint(span, ref i);
                    result.Add((field, data.Slice(i, length)));
                    i += length;
                    break;
                case 5:
                    i += 4;
                    break;
                default:
                    throw new Errors.ApiException(400, "BadRequest", "malformed protobuf request body");
            }
        }

        return result;
    }

    private static ulong Varint(ReadOnlySpan<byte> span, ref int i)
    {
        ulong value = 0;
        var shift = 0;
        while (i < span.Length)
        {
            var b = span[i++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }

            shift += 7;
        }

        throw new Errors.ApiException(400, "BadRequest", "malformed protobuf request body");
    }
}
