using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Resources;
using Ferry.KubeEmulator.Serialization;

namespace Ferry.KubeEmulator.Tables;

/// <summary>What a table row carries besides its cells (the <c>includeObject</c> query parameter).</summary>
public enum IncludeObject { None, Metadata, Object }

/// <summary>
/// Server-side printing: <c>meta.k8s.io/v1 Table</c> responses from a CRD's additionalPrinterColumns (NAME first, then the
/// columns; date columns rendered as an age the way the apiserver does), NAME/AGE for built-in kinds and a richer pod table.
/// </summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables</remarks>
internal static class TableConverter
{
    public static JsonObject Table(ApiResource r, IEnumerable<JsonObject> objects, IncludeObject include, DateTimeOffset now, string? listResourceVersion, string? continueToken, bool withColumns = true)
    {
        var columns = Columns(r);
        var rows = new JsonArray();
        foreach (var o in objects)
        {
            rows.Add(Row(r, o, columns, include, now));
        }

        var metadata = new JsonObject();
        if (listResourceVersion is not null)
        {
            metadata["resourceVersion"] = listResourceVersion;
        }

        if (!string.IsNullOrEmpty(continueToken))
        {
            metadata["continue"] = continueToken;
        }

        var table = new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = metadata,
        };
        table["columnDefinitions"] = withColumns
            ? new JsonArray(columns.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name,
                ["type"] = c.Type,
                ["format"] = c.Format ?? "",
                ["description"] = c.Description,
                ["priority"] = c.Priority,
            }).ToArray())
            : new JsonArray();
        table["rows"] = rows;
        return table;
    }

    private static List<PrinterColumn> Columns(ApiResource r)
    {
        var name = new PrinterColumn("Name", "string", "name", "Name must be unique within a namespace.", ".metadata.name", 0);
        var age = new PrinterColumn("Age", "date", null, "CreationTimestamp is a timestamp representing the server time when this object was created.", ".metadata.creationTimestamp", 0);
        if (r.IsCustom)
        {
            return r.PrinterColumns.Count > 0 ? [name, .. r.PrinterColumns] : [name, age];
        }

        if (r.Plural == "pods" && r.Group.Length == 0)
        {
            return
            [
                name,
                new PrinterColumn("Ready", "string", null, "The aggregate readiness state of this pod for accepting traffic.", "", 0),
                new PrinterColumn("Status", "string", null, "The aggregate status of the containers in this pod.", ".status.phase", 0),
                new PrinterColumn("Restarts", "string", null, "The number of times the containers in this pod have been restarted.", "", 0),
                age,
            ];
        }

        // The columns of the apiserver's printers (pkg/printers/internalversion/printers.go) for the kinds served without a controller.
        switch (r.Group, r.Plural)
        {
            case ("apps", "deployments"):
                return
                [
                    name,
                    new PrinterColumn("Ready", "string", null, "Number of the pod with ready state", "", 0),
                    new PrinterColumn("Up-to-date", "string", null, "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", "", 0),
                    new PrinterColumn("Available", "string", null, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", "", 0),
                    age,
                ];
            case ("policy", "poddisruptionbudgets"):
                return
                [
                    name,
                    new PrinterColumn("Min Available", "string", null, "The minimum number of pods that must be available simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\".", "", 0),
                    new PrinterColumn("Max Unavailable", "string", null, "The maximum number of pods that may be unavailable simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\".", "", 0),
                    new PrinterColumn("Allowed Disruptions", "integer", null, "Calculated number of pods that may be disrupted at this time.", "", 0),
                    age,
                ];
            case ("networking.k8s.io", "networkpolicies"):
                return [name, new PrinterColumn("Pod-Selector", "string", null, "Selects the pods to which this NetworkPolicy object applies.", "", 0), age];
        }

        return [name, age];
    }

    /// <summary>A cell the apiserver's printer computes rather than reads at a path, or null for a path column.</summary>
    private static JsonNode? ComputedCell(ApiResource r, PrinterColumn c, JsonObject o, out bool computed)
    {
        computed = true;
        long Count(string field) => o["status"]?[field].AsLong() ?? 0;
        string Text(JsonNode? n) => n switch { null => "N/A", JsonValue v when v.TryGetValue<string>(out var t) => t, _ => n.ToJsonString() };
        switch (r.Group, r.Plural, c.Name)
        {
            case ("apps", "deployments", "Ready"):
                return $"{Count("readyReplicas")}/{o["spec"]?["replicas"].AsLong() ?? 1}";
            case ("apps", "deployments", "Up-to-date"):
                return Count("updatedReplicas");
            case ("apps", "deployments", "Available"):
                return Count("availableReplicas");
            case ("policy", "poddisruptionbudgets", "Min Available"):
                return Text(o["spec"]?["minAvailable"]);
            case ("policy", "poddisruptionbudgets", "Max Unavailable"):
                return Text(o["spec"]?["maxUnavailable"]);
            case ("policy", "poddisruptionbudgets", "Allowed Disruptions"):
                return Count("disruptionsAllowed");
            case ("networking.k8s.io", "networkpolicies", "Pod-Selector"):
                var labels = o["spec"]?["podSelector"]?["matchLabels"] as JsonObject ?? [];
                var expressions = o["spec"]?["podSelector"]?["matchExpressions"] as JsonArray ?? [];
                var parts = labels.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={(string?)p.Value}")
                    .Concat(expressions.OfType<JsonObject>().Select(e => (string?)e["operator"] switch
                    {
                        "Exists" => (string?)e["key"],
                        "DoesNotExist" => "!" + (string?)e["key"],
                        var op => $"{(string?)e["key"]} {op?.ToLowerInvariant()} ({string.Join(",", (e["values"] as JsonArray ?? []).Select(v => (string?)v))})",
                    })).ToList();
                return parts.Count == 0 ? "<none>" : string.Join(",", parts);
        }

        computed = false;
        return null;
    }

    private static JsonObject Row(ApiResource r, JsonObject o, List<PrinterColumn> columns, IncludeObject include, DateTimeOffset now)
    {
        var cells = new JsonArray();
        foreach (var c in columns)
        {
            if (c.Name == "Ready" && r.Plural == "pods")
            {
                var statuses = o["status"]?["containerStatuses"] as JsonArray ?? [];
                var total = (o["spec"]?["containers"] as JsonArray)?.Count ?? 0;
                cells.Add($"{statuses.Count(s => s?["ready"]?.GetValue<bool>() == true)}/{total}");
                continue;
            }

            if (c.Name == "Restarts" && r.Plural == "pods")
            {
                var statuses = o["status"]?["containerStatuses"] as JsonArray ?? [];
                cells.Add(statuses.Sum(s => (int)(s?["restartCount"].AsLong() ?? 0)).ToString(CultureInfo.InvariantCulture));
                continue;
            }

            var cell = ComputedCell(r, c, o, out var computed);
            cells.Add(computed ? cell : Cell(c, JsonPath.Evaluate(o, c.JsonPath), now));
        }

        var row = new JsonObject { ["cells"] = cells };
        switch (include)
        {
            case IncludeObject.Object:
                row["object"] = o.DeepClone();
                break;
            case IncludeObject.Metadata:
                var meta = o["metadata"]?.DeepClone().AsObject() ?? [];
                meta.Remove("managedFields");
                row["object"] = new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = meta };
                break;
        }

        return row;
    }

    private static JsonNode? Cell(PrinterColumn c, JsonNode? value, DateTimeOffset now)
    {
        if (value is null)
        {
            return null;
        }

        if (c.Type == "date" && value is JsonValue v && DateTimeOffset.TryParse((string?)v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return HumanDuration(now - at);
        }

        return c.Type switch
        {
            "string" when value is JsonValue sv && sv.TryGetValue<string>(out var s) => s,
            "string" or "date" => value is JsonValue ? value.ToJsonString().Trim('"') : value.ToJsonString(),
            _ => value.DeepClone(),
        };
    }

    /// <summary>apimachinery's duration.HumanDuration (what kubectl shows under AGE).</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < -1)
        {
            return "<invalid>";
        }

        if (seconds < 0)
        {
            return "0s";
        }

        if (seconds < 60 * 2)
        {
            return $"{seconds}s";
        }

        var minutes = (long)d.TotalMinutes;
        if (minutes < 10)
        {
            var s = seconds % 60;
            return s == 0 ? $"{minutes}m" : $"{minutes}m{s}s";
        }

        if (minutes < 60 * 3)
        {
            return $"{minutes}m";
        }

        var hours = (long)d.TotalHours;
        if (hours < 8)
        {
            var m = minutes % 60;
            return m == 0 ? $"{hours}h" : $"{hours}h{m}m";
        }

        if (hours < 48)
        {
            return $"{hours}h";
        }

        if (hours < 24 * 8)
        {
            var h = hours % 24;
            return h == 0 ? $"{hours / 24}d" : $"{hours / 24}d{h}h";
        }

        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24}d";
        }

        if (hours < 24 * 365 * 8)
        {
            var dy = hours / 24 % 365;
            return dy == 0 ? $"{hours / 24 / 365}y" : $"{hours / 24 / 365}y{dy}d";
        }

        return $"{hours / 24 / 365}y";
    }
}

/// <summary>The JSONPath subset printer columns use: <c>.a.b</c>, <c>[n]</c>, <c>[a:b]</c>, <c>[*]</c> and <c>[?(@.k=="v")]</c> filters.</summary>
/// <remarks>https://kubernetes.io/docs/reference/kubectl/jsonpath/</remarks>
public static class JsonPath
{
    public static JsonNode? Evaluate(JsonNode? root, string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        path = path.Trim();
        if (path.StartsWith('{') && path.EndsWith('}'))
        {
            path = path[1..^1];
        }

        var nodes = new List<JsonNode?> { root };
        var i = 0;
        while (i < path.Length && nodes.Count > 0)
        {
            if (path[i] == '.')
            {
                var end = i + 1;
                while (end < path.Length && path[end] != '.' && path[end] != '[')
                {
                    end++;
                }

                var name = path[(i + 1)..end];
                if (name.Length > 0)
                {
                    nodes = nodes.Select(n => (n as JsonObject)?[name]).Where(n => n is not null).ToList();
                }

                i = end;
            }
            else if (path[i] == '[')
            {
                var end = path.IndexOf(']', i);
                if (end < 0)
                {
                    return null;
                }

                var inner = path[(i + 1)..end];
                nodes = Index(nodes, inner);
                i = end + 1;
            }
            else
            {
                return null;
            }
        }

        return nodes.Count == 0 ? null : nodes.Count == 1 ? nodes[0] : new JsonArray(nodes.Select(n => n?.DeepClone()).ToArray());
    }

    private static List<JsonNode?> Index(List<JsonNode?> nodes, string inner)
    {
        var result = new List<JsonNode?>();
        foreach (var n in nodes.OfType<JsonArray>())
        {
            if (inner == "*")
            {
                result.AddRange(n);
            }
            else if (inner.Contains(':', StringComparison.Ordinal) && !inner.StartsWith('?'))
            {
                var parts = inner.Split(':');
                var from = int.TryParse(parts[0], out var f) ? (f < 0 ? Math.Max(0, n.Count + f) : Math.Min(f, n.Count)) : 0;
                var to = parts.Length > 1 && int.TryParse(parts[1], out var t) ? (t < 0 ? Math.Max(0, n.Count + t) : Math.Min(t, n.Count)) : n.Count;
                for (var k = from; k < to; k++)
                {
                    result.Add(n[k]);
                }
            }
            else if (int.TryParse(inner, out var idx))
            {
                if (idx < 0)
                {
                    idx += n.Count;
                }

                if (idx >= 0 && idx < n.Count)
                {
                    result.Add(n[idx]);
                }
            }
            else if (inner.StartsWith("?(@.", StringComparison.Ordinal) && inner.EndsWith(')'))
            {
                var expr = inner[4..^1];
                var eq = expr.IndexOf("==", StringComparison.Ordinal);
                if (eq < 0)
                {
                    continue;
                }

                var key = expr[..eq].Trim();
                var want = expr[(eq + 2)..].Trim().Trim('"', '\'');
                result.AddRange(n.Where(item => item is JsonObject o && o[key] is JsonValue v && (v.ToJsonString().Trim('"') == want)));
            }
        }

        return result;
    }
}
