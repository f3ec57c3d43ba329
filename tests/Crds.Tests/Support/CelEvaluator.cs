using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.Crds.Tests.Support;

/// <summary>Runs CEL rules with the CEL engine from npm (<c>@bufbuild/cel</c>, in tests/Crds.Tests/cel).</summary>
public static class CelEvaluator
{
    public sealed record Evaluation(string Rule, JsonNode? Self, JsonNode? OldSelf, bool IsTransition);

    /// <summary>True/false per rule, or the engine's error (a rule that does not compile or run).</summary>
    public sealed record Outcome(bool? Value, string? Error);

    public static IReadOnlyList<Outcome> Evaluate(IReadOnlyList<Evaluation> evaluations)
    {
        var dir = RepoPaths.Of(Path.Combine("tests", "Crds.Tests", "cel"));
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "@bufbuild", "cel")))
            throw new InvalidOperationException($"the CEL engine is not installed: run `npm ci` in {dir} (scripts/setup.sh does)");

        var request = new JsonArray(evaluations.Select(e =>
        {
            var item = new JsonObject { ["rule"] = e.Rule, ["self"] = TagIntegers(e.Self) };
            if (e.IsTransition)
                item["oldSelf"] = TagIntegers(e.OldSelf);
            return (JsonNode?)item;
        }).ToArray());

        var start = new ProcessStartInfo("node", "evaluate.mjs")
        {
            WorkingDirectory = dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(start) ?? throw new InvalidOperationException("cannot start node");
        var stderr = node.StandardError.ReadToEndAsync();
        node.StandardInput.Write(request.ToJsonString());
        node.StandardInput.Close();
        var stdout = node.StandardOutput.ReadToEnd();
        if (!node.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            node.Kill();
            throw new TimeoutException("CEL evaluation did not finish within a minute");
        }
        if (node.ExitCode != 0)
            throw new InvalidOperationException($"node evaluate.mjs failed ({node.ExitCode}): {stderr.Result}");

        return JsonNode.Parse(stdout)!.AsArray()
            .Select(r => new Outcome(r!["value"]?.GetValue<bool>(), r["error"]?.GetValue<string>()))
            .ToList();
    }

    // JSON numbers without a fraction are CEL ints in the API server (integer-typed fields).
    private static JsonNode? TagIntegers(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, TagIntegers(p.Value)))),
        JsonArray array => new JsonArray(array.Select(TagIntegers).ToArray()),
        JsonValue value when value.GetValueKind() == JsonValueKind.Number && long.TryParse(value.ToJsonString(), out var whole) =>
            new JsonObject { ["$int"] = whole.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        _ => node?.DeepClone(),
    };
}
