using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Patching;

namespace Ferry.KubeEmulator.Tests.Patching;

/// <summary>The managedFields a write keeps with the stored object must give the next write exactly what reading the JSON gives.</summary>
public sealed class ManagedFieldsIndexTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public void A_chain_of_writes_from_the_index_matches_the_chain_read_from_json()
    {
        // Each step: (manager, subresource, change). Includes a field removed and later replaced by an empty object (so one
        // owned path becomes a prefix of another), list items keyed by name, and a status write by another manager.
        var steps = new (string Manager, string? Subresource, Action<JsonObject> Change)[]
        {
            ("creator", null, o => o["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "a", ["image"] = "i1" }), ["x"] = new JsonObject { ["y"] = 1 } }),
            ("node", "status", o => o["status"] = new JsonObject { ["phase"] = "Pending", ["podIP"] = "10.0.0.1" }),
            ("node", "status", o => o["status"]!["phase"] = "Running"),
            ("editor", null, o => o["spec"]!["containers"]![0]!["image"] = "i2"),
            ("editor", null, o => o["spec"]!.AsObject().Remove("x")),
            ("creator", null, o => o["spec"]!["x"] = new JsonObject()),
            ("node", "status", o => o["status"]!["phase"] = "Succeeded"),
            ("creator", null, o => o["metadata"]!["labels"] = new JsonObject { ["app"] = "z" }),
        };

        var fromJson = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Pod", ["metadata"] = new JsonObject { ["name"] = "p", ["namespace"] = "default" } };
        ManagedFields.RecordUpdate(null, fromJson, "creator", null, "v1", Start, ListKey);
        var fromIndex = (JsonObject)fromJson.DeepClone();
        var index = ManagedFields.RecordUpdate(null, null, fromIndex, "creator", null, "v1", Start, ListKey);
        Assert.Equal(fromJson.ToJsonString(), fromIndex.ToJsonString());

        for (var i = 0; i < steps.Length; i++)
        {
            var (manager, subresource, change) = steps[i];
            var now = Start.AddMinutes(i + 1);

            var beforeJson = (JsonObject)JsonNode.Parse(fromJson.ToJsonString())!;
            var afterJson = (JsonObject)beforeJson.DeepClone();
            change(afterJson);
            ManagedFields.RecordUpdate(beforeJson, afterJson, manager, subresource, "v1", now, ListKey);

            var beforeIndexed = (JsonObject)JsonNode.Parse(fromIndex.ToJsonString())!;
            var afterIndexed = (JsonObject)beforeIndexed.DeepClone();
            change(afterIndexed);
            index = ManagedFields.RecordUpdate(beforeIndexed, index, afterIndexed, manager, subresource, "v1", now, ListKey);

            Assert.Equal(afterJson.ToJsonString(), afterIndexed.ToJsonString());
            fromJson = afterJson;
            fromIndex = afterIndexed;
        }

        // The status manager owns what it last changed; the creator lost the image the editor changed.
        var entries = fromIndex["metadata"]!["managedFields"]!.AsArray();
        Assert.Contains(entries, e => (string?)e!["manager"] == "node" && e["fieldsV1"]!.ToJsonString().Contains("f:phase", StringComparison.Ordinal));
        Assert.DoesNotContain("f:image", entries.Single(e => (string?)e!["manager"] == "creator")!["fieldsV1"]!.ToJsonString(), StringComparison.Ordinal);
    }

    private static string? ListKey(string dottedPath) => dottedPath == "spec.containers" ? "name" : null;
}
