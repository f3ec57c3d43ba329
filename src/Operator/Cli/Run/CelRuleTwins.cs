using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.Operator.Cli.Run;

/// <summary>
/// A C# equivalent of one CEL rule of the CRD (<c>x-kubernetes-validations</c>). The API server evaluates the
/// CEL; <c>ferry run</c> never talks to one, so it evaluates these instead. <see cref="Rule"/> is the CEL text it
/// stands for and <see cref="Message"/> the rule's message, both exactly as in the CRD (a test checks the pairing).
/// </summary>
/// <param name="Rule">The CEL expression, verbatim.</param>
/// <param name="Message">The rule's message, verbatim.</param>
/// <param name="Holds">The rule: true when <c>self</c> (and <c>oldSelf</c>, null on create) satisfy it.</param>
public sealed record CelRuleTwin(string Rule, string Message, Func<JsonNode, JsonNode?, bool> Holds)
{
    /// <summary>A transition rule (it reads <c>oldSelf</c>): the API server skips it on create.</summary>
    public bool IsTransitionRule => Rule.Contains("oldSelf", StringComparison.Ordinal);
}

/// <summary>The C# twins of every CEL rule in <c>config/crd/ferry.dev_trainingjobs.yaml</c>, by rule text.</summary>
public static partial class CelRuleTwins
{
    // The fields of spec that the immutability rule compares: every field but suspend, in the generator's order.
    private static readonly string[] ImmutableSpecFields =
    [
        "args", "backend", "checkpoint", "command", "env", "experiment", "hyperParameters", "image", "inCluster",
        "inputs", "maxRetries", "metricDefinitions", "output", "resources", "rules", "sageMaker", "spot", "stoppingCondition",
    ];

    /// <summary>Every twin.</summary>
    public static IReadOnlyList<CelRuleTwin> All { get; } =
    [
        new("size(self.metadata.name) <= 59 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
            "metadata.name must be a DNS-1035 label of at most 59 characters (lowercase letters, digits and '-', starting with a letter): it names the job's Service and its pods <name>-<replica index>; rename the TrainingJob",
            (self, _) => Text(Child(self, "metadata"), "name") is { } name && name.Length <= 59 && Dns1035Label().IsMatch(name)),

        new(string.Join("\n&& ", ImmutableSpecFields.Select(n => $"(has(self.{n}) ? has(oldSelf.{n}) && self.{n} == oldSelf.{n} : !has(oldSelf.{n}))")),
            "spec is immutable once the TrainingJob is created (only spec.suspend may change): delete and re-create the TrainingJob to change it",
            (self, oldSelf) => oldSelf is null || ImmutableSpecFields.All(n => JsonNode.DeepEquals(Child(self, n), Child(oldSelf, n)))),

        new("(has(self.backend) && self.backend == 'Local') || has(self.image)",
            "spec.image is required unless spec.backend is Local: set spec.image to the training image, e.g. ghcr.io/ferry-dev/ferry-trainer:0.1.0",
            (self, _) => IsLocal(self) || Has(self, "image")),

        new("!has(self.backend) || self.backend != 'SageMaker' || (has(self.sageMaker) && has(self.sageMaker.roleArn))",
            "spec.sageMaker.roleArn is required when spec.backend is SageMaker: set it to the IAM role SageMaker assumes, e.g. arn:aws:iam::123456789012:role/ferry-training",
            (self, _) => !IsSageMaker(self) || Has(Child(self, "sageMaker"), "roleArn")),

        new("!has(self.backend) || self.backend != 'SageMaker' || (has(self.resources) && has(self.resources.instanceType))",
            "spec.resources.instanceType is required when spec.backend is SageMaker: set it to a SageMaker instance type, e.g. ml.g5.xlarge",
            (self, _) => !IsSageMaker(self) || Has(Child(self, "resources"), "instanceType")),

        new("!has(self.backend) || self.backend != 'SageMaker' || has(self.output)",
            "spec.output.uri is required when spec.backend is SageMaker: set it to the s3:// prefix where the model is written",
            (self, _) => !IsSageMaker(self) || Has(self, "output")),

        new("(has(self.backend) && self.backend == 'Local') || !has(self.inputs) || self.inputs.all(c, c.uri.startsWith('s3://'))",
            "spec.inputs[].uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local",
            (self, _) => IsLocal(self) || Child(self, "inputs") is not JsonArray inputs || inputs.All(c => IsS3(Text(c, "uri")))),

        new("(has(self.backend) && self.backend == 'Local') || !has(self.output) || self.output.uri.startsWith('s3://')",
            "spec.output.uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local",
            (self, _) => IsLocal(self) || !Has(self, "output") || IsS3(Text(Child(self, "output"), "uri"))),

        new("(has(self.backend) && self.backend == 'Local') || !has(self.checkpoint) || self.checkpoint.uri.startsWith('s3://')",
            "spec.checkpoint.uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local",
            (self, _) => IsLocal(self) || !Has(self, "checkpoint") || IsS3(Text(Child(self, "checkpoint"), "uri"))),

        new("!has(self.stoppingCondition) || !has(self.stoppingCondition.maxWaitSeconds) || (has(self.spot) && self.spot)",
            "spec.stoppingCondition.maxWaitSeconds only applies to spot training: set spec.spot: true or remove maxWaitSeconds",
            (self, _) => !Has(Child(self, "stoppingCondition"), "maxWaitSeconds") || Child(self, "spot") is JsonValue spot && spot.GetValueKind() == System.Text.Json.JsonValueKind.True),

        new("self.all(k, size(k) <= 512 && k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))",
            "spec.env keys must be environment variable names of at most 512 characters (letters, digits and _, not starting with a digit): rename the variable",
            (self, _) => Keys(self).All(k => k.Length <= 512 && EnvironmentName().IsMatch(k))),

        new("self.all(k, size(k) >= 1 && size(k) <= 256)",
            "spec.hyperParameters keys must be 1-256 characters long: shorten the key",
            (self, _) => Keys(self).All(k => k.Length is >= 1 and <= 256)),

        new("self.all(c, self.exists_one(d, d.name == c.name))",
            "spec.inputs[].name must be unique: give every channel its own name",
            (self, _) => NamesUnique(self)),

        new("self.all(m, self.exists_one(n, n.name == m.name))",
            "spec.metricDefinitions[].name must be unique: give every metric its own name",
            (self, _) => NamesUnique(self)),

        new("self.all(r, r.type != 'MetricThreshold' || (has(r.value) && has(r.comparison)))",
            "spec.rules[].value and spec.rules[].comparison are required when type is MetricThreshold: e.g. value: 0.9 and comparison: GreaterThan stops the job once the metric exceeds 0.9",
            (self, _) => Items(self).All(r => Text(r, "type") != "MetricThreshold" || (Has(r, "value") && Has(r, "comparison")))),

        new("self.all(r, !(r.type in ['Hang', 'StartDeadline']) || has(r.seconds))",
            "spec.rules[].seconds is required when type is Hang or StartDeadline: set how long the metric may stay silent, e.g. seconds: 600",
            (self, _) => Items(self).All(r => Text(r, "type") is not ("Hang" or "StartDeadline") || Has(r, "seconds"))),

        new("self.all(r, self.exists_one(q, (has(q.name) ? q.name : q.type) == (has(r.name) ? r.name : r.type)))",
            "spec.rules[].name must be unique (a rule without a name is named after its type): give each rule its own name",
            (self, _) => Items(self).Select(r => Text(r, "name") ?? Text(r, "type")).GroupBy(n => n, StringComparer.Ordinal).All(g => g.Count() == 1)),

        new("self.all(k, size(k) >= 1 && size(k) <= 128 && !k.startsWith('aws:'))",
            "spec.sageMaker.tags keys must be 1-128 characters and must not start with aws: (reserved by AWS): rename the tag",
            (self, _) => Keys(self).All(k => k.Length is >= 1 and <= 128 && !k.StartsWith("aws:", StringComparison.Ordinal))),

        new("!has(self.maxWaitSeconds) || (has(self.maxRuntimeSeconds) && self.maxWaitSeconds >= self.maxRuntimeSeconds)",
            "spec.stoppingCondition.maxWaitSeconds must be at least maxRuntimeSeconds (the wait includes the run): set maxRuntimeSeconds and make maxWaitSeconds >= maxRuntimeSeconds",
            (self, _) => !Has(self, "maxWaitSeconds")
                || (Number(self, "maxRuntimeSeconds") is { } runtime && Number(self, "maxWaitSeconds") >= runtime)),
    ];

    private static readonly Dictionary<string, CelRuleTwin> ByRule = All.ToDictionary(t => t.Rule, StringComparer.Ordinal);

    /// <summary>The twin of <paramref name="rule"/>, or null when the CRD has a rule this program does not know.</summary>
    public static CelRuleTwin? Find(string rule) => ByRule.GetValueOrDefault(rule);

    // CEL's has(): the field is present (the API server has already pruned nulls).
    private static bool Has(JsonNode? node, string name) => node is JsonObject o && o[name] is not null;

    private static JsonNode? Child(JsonNode? node, string name) => node is JsonObject o ? o[name] : null;

    private static string? Text(JsonNode? node, string name) =>
        Child(node, name) is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

    private static double? Number(JsonNode? node, string name) =>
        Child(node, name) is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)
            : null;

    private static bool IsLocal(JsonNode self) => Text(self, "backend") == "Local";

    private static bool IsSageMaker(JsonNode self) => Text(self, "backend") == "SageMaker";

    private static bool IsS3(string? uri) => uri is not null && uri.StartsWith("s3://", StringComparison.Ordinal);

    private static IEnumerable<JsonNode?> Items(JsonNode self) => self as JsonArray ?? [];

    private static IEnumerable<string> Keys(JsonNode self) => self is JsonObject o ? o.Select(p => p.Key) : [];

    private static bool NamesUnique(JsonNode self)
    {
        if (self is not JsonArray items)
        {
            return true;
        }

        var names = items.Select(i => Text(i, "name")).ToList();
        return names.All(n => names.Count(m => m == n) == 1);
    }

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex EnvironmentName();
}
