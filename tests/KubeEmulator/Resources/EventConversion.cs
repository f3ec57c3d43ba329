using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Resources;

/// <summary>
/// core/v1 and events.k8s.io/v1 Events are one resource in the apiserver, stored in the core form and converted on the way
/// in and out (pkg/apis/events/v1/conversion.go): regarding ↔ involvedObject, note ↔ message, reportingController ↔
/// reportingComponent, deprecatedSource/FirstTimestamp/LastTimestamp/Count ↔ source/firstTimestamp/lastTimestamp/count.
/// </summary>
internal static class EventConversion
{
    private static readonly (string EventsV1, string Core)[] Renamed =
    [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("reportingController", "reportingComponent"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ];

    /// <summary>Field selector labels of events.k8s.io/v1 and the stored (core) fields they select on.</summary>
    public static readonly IReadOnlyDictionary<string, string> FieldLabels = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["metadata.name"] = "metadata.name",
        ["metadata.namespace"] = "metadata.namespace",
        ["reason"] = "reason",
        ["type"] = "type",
        ["reportingController"] = "reportingComponent",
        ["regarding.kind"] = "involvedObject.kind",
        ["regarding.namespace"] = "involvedObject.namespace",
        ["regarding.name"] = "involvedObject.name",
        ["regarding.uid"] = "involvedObject.uid",
        ["regarding.apiVersion"] = "involvedObject.apiVersion",
        ["regarding.resourceVersion"] = "involvedObject.resourceVersion",
        ["regarding.fieldPath"] = "involvedObject.fieldPath",
    };

    /// <summary>The stored (core/v1) form of an events.k8s.io/v1 Event.</summary>
    public static JsonObject ToCore(JsonObject eventsV1) => Rename(eventsV1, fromEventsV1: true);

    /// <summary>The events.k8s.io/v1 form of a stored (core/v1) Event.</summary>
    public static JsonObject ToEventsV1(JsonObject core) => Rename(core, fromEventsV1: false);

    private static JsonObject Rename(JsonObject source, bool fromEventsV1)
    {
        var result = new JsonObject();
        foreach (var (key, value) in source.ToList())
        {
            source.Remove(key);
            string? target = key;
            foreach (var (v1, core) in Renamed)
            {
                if (fromEventsV1 && key == v1)
                {
                    target = core;
                }
                else if (!fromEventsV1 && key == core)
                {
                    target = v1;
                }
                else if ((fromEventsV1 && key == core) || (!fromEventsV1 && key == v1))
                {
                    // A field of the other version's name has no place in this one (dropped as the decoder would).
                    target = null;
                }
            }

            if (target is not null)
            {
                result[target] = value;
            }
        }

        return result;
    }
}
