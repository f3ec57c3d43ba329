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

    private static readonly Lock Gate = new();
    private static Process? _node;

    public static IReadOnlyList<Outcome> Evaluate(IReadOnlyList<Evaluation> evaluations)
    {
        var request = new JsonArray(evaluations.Select(e =>
        {
            var item = new JsonObject { ["rule"] = e.Rule, ["self"] = TagIntegers(e.Self) };
            if (e.IsTransition)
                item["oldSelf"] = TagIntegers(e.OldSelf);
            return (JsonNode?)item;
        }).ToArray());

        string? answer;
        lock (Gate)
        {
            var node = _node ??= Start();
            node.StandardInput.WriteLine(request.ToJsonString());
            node.StandardInput.Flush();
            var read = node.StandardOutput.ReadLineAsync();
            if (!read.Wait(TimeSpan.FromMinutes(1)))
                throw new TimeoutException("the CEL engine did not answer within a minute");
            answer = read.Result;
        }
        if (answer is null)
            throw new InvalidOperationException($"node evaluate.mjs exited: {_node?.StandardError.ReadToEnd()}");

        return JsonNode.Parse(answer)!.AsArray()
            .Select(r => new Outcome(r!["value"]?.GetValue<bool>(), r["error"]?.GetValue<string>()))
            .ToList();
    }

    // One engine process for the whole test run; it exits when its stdin closes with ours.
    private static Process Start()
    {
        var dir = RepoPaths.Of(Path.Combine("tests", "Crds.Tests", "cel"));
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "@bufbuild", "cel")))
            throw new InvalidOperationException($"the CEL engine is not installed: run `npm ci` in {dir} (scripts/setup.sh does)");

        var start = new ProcessStartInfo("node", "evaluate.mjs")
        {
            WorkingDirectory = dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var node = Process.Start(start) ?? throw new InvalidOperationException("cannot start node");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (!node.HasExited)
                node.Kill();
        };
        return node;
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
