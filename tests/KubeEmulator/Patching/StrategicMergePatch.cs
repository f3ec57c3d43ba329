using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Errors;

namespace Ferry.KubeEmulator.Patching;

/// <summary>
/// Strategic merge patch (<c>application/strategic-merge-patch+json</c>) for built-in kinds: lists merge by the keys the
/// Kubernetes Go types declare (containers by name, volumeMounts by mountPath, ...), with the $patch,
/// $deleteFromPrimitiveList, $retainKeys and $setElementOrder directives.
/// </summary>
/// <remarks>https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/#use-a-strategic-merge-patch-to-update-a-deployment
/// and https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md</remarks>
public static class StrategicMergePatch
{
    private const string Primitive = "\0primitive";

    public static JsonObject Apply(JsonObject original, JsonObject patch)
    {
        var target = original.DeepClone().AsObject();
        return MergeMap(target, patch, "") ?? [];
    }

    /// <summary>The merge key for a list at this dotted path (no indices), <c>null</c> when the list is replaced atomically.</summary>
    public static string? MergeKeyFor(string path)
    {
        var parts = path.Split('.');
        var last = parts[^1];
        return last switch
        {
            "containers" or "initContainers" or "ephemeralContainers" or "imagePullSecrets" or "volumes" or "env" or "resourceClaims" => "name",
            "volumeMounts" => "mountPath",
            "volumeDevices" => "devicePath",
            "ports" when parts.Any(p => p is "ingress" or "egress") => null,
            "ports" => parts.Any(p => p is "containers" or "initContainers" or "ephemeralContainers") ? "containerPort" : "port",
            "conditions" => "type",
            "ownerReferences" when path == "metadata.ownerReferences" => "uid",
            "finalizers" when path == "metadata.finalizers" => Primitive,
            "hostAliases" => "ip",
            "topologySpreadConstraints" => "topologyKey",
            _ => null,
        };
    }

    private static JsonObject? MergeMap(JsonObject target, JsonObject patch, string path)
    {
        if (patch["$patch"] is JsonValue directive)
        {
            var d = (string?)directive;
            if (d == "delete")
            {
                return null;
            }

            if (d == "replace")
            {
                var replaced = patch.DeepClone().AsObject();
                replaced.Remove("$patch");
                return replaced;
            }

            throw ApiException.BadRequest($"unknown patch type found: \"{d}\"");
        }

        if (patch["$retainKeys"] is JsonArray retain)
        {
            var keep = retain.Select(k => (string?)k).ToHashSet();
            foreach (var k in target.Select(p => p.Key).ToList())
            {
                if (!keep.Contains(k))
                {
                    target.Remove(k);
                }
            }
        }

        foreach (var (key, value) in patch)
        {
            if (key is "$patch" or "$retainKeys" || key.StartsWith("$setElementOrder/", StringComparison.Ordinal))
            {
                continue;
            }

            var childPath = path.Length == 0 ? key : path + "." + key;
            if (key.StartsWith("$deleteFromPrimitiveList/", StringComparison.Ordinal))
            {
                var field = key["$deleteFromPrimitiveList/".Length..];
                if (target[field] is JsonArray list && value is JsonArray remove)
                {
                    var drop = remove.Select(r => r?.ToJsonString()).ToHashSet();
                    for (var i = list.Count - 1; i >= 0; i--)
                    {
                        if (drop.Contains(list[i]?.ToJsonString()))
                        {
                            list.RemoveAt(i);
                        }
                    }
                }

                continue;
            }

            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject po)
            {
                var merged = MergeMap(target[key] as JsonObject ?? [], po, childPath);
                target.Remove(key);
                if (merged is not null)
                {
                    target[key] = merged;
                }
            }
            else if (value is JsonArray pa)
            {
                var merged = MergeList(target[key] as JsonArray, pa, childPath);
                target.Remove(key);
                target[key] = merged;
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }

        return target;
    }

    private static JsonArray MergeList(JsonArray? target, JsonArray patch, string path)
    {
        if (patch.Any(p => p is JsonObject o && (string?)o["$patch"] == "replace"))
        {
            return new JsonArray(patch.Where(p => !(p is JsonObject o && (string?)o["$patch"] == "replace")).Select(p => p?.DeepClone()).ToArray());
        }

        var key = MergeKeyFor(path);
        if (key is null || target is null)
        {
            return new JsonArray(patch.Where(p => !(p is JsonObject o && o["$patch"] is not null)).Select(p => p?.DeepClone()).ToArray());
        }

        var result = new JsonArray(target.Select(t => t?.DeepClone()).ToArray());
        if (key == Primitive)
        {
            var present = result.Select(r => r?.ToJsonString()).ToHashSet();
            foreach (var p in patch)
            {
                if (present.Add(p?.ToJsonString()))
                {
                    result.Add(p?.DeepClone());
                }
            }

            return result;
        }

        foreach (var p in patch)
        {
            if (p is not JsonObject item)
            {
                result.Add(p?.DeepClone());
                continue;
            }

            var keyValue = item[key]?.ToJsonString();
            var index = -1;
            for (var i = 0; i < result.Count; i++)
            {
                if (result[i] is JsonObject r && r[key]?.ToJsonString() == keyValue)
                {
                    index = i;
                    break;
                }
            }

            if ((string?)item["$patch"] == "delete")
            {
                if (index >= 0)
                {
                    result.RemoveAt(index);
                }

                continue;
            }

            if (index >= 0)
            {
                var merged = MergeMap(result[index]!.AsObject(), item, path);
                result.RemoveAt(index);
                if (merged is not null)
                {
                    result.Insert(index, merged);
                }
            }
            else
            {
                var clone = item.DeepClone().AsObject();
                clone.Remove("$patch");
                result.Add(clone);
            }
        }

        return result;
    }
}
