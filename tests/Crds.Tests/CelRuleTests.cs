using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ferry.Crds.Tests.Support;

namespace Ferry.Crds.Tests;

/// <summary>
/// The CRD's CEL rules: each is declared with a message that names the field and the fix, compiles,
/// is bounded for the API server's cost estimator, and accepts or refuses what it should when run by
/// a real CEL engine.
/// </summary>
public sealed partial class CelRuleTests
{
    private const string Local = "fashion-mnist-local.yaml";
    private const string InCluster = "fashion-mnist-incluster.yaml";
    private const string SageMaker = "fashion-mnist-sagemaker.yaml";

    private const string Immutable = "spec is immutable once the TrainingJob is created (only spec.suspend may change): delete and re-create the TrainingJob to change it";
    private const string ImageRequired = "spec.image is required unless spec.backend is Local: set spec.image to the training image, e.g. ghcr.io/ferry-dev/ferry-trainer:0.1.0";
    private const string RoleRequired = "spec.sageMaker.roleArn is required when spec.backend is SageMaker: set it to the IAM role SageMaker assumes, e.g. arn:aws:iam::123456789012:role/ferry-training";
    private const string InstanceTypeRequired = "spec.resources.instanceType is required when spec.backend is SageMaker: set it to a SageMaker instance type, e.g. ml.g5.xlarge";
    private const string OutputRequired = "spec.output.uri is required when spec.backend is SageMaker: set it to the s3:// prefix where the model is written";
    private const string InputsS3 = "spec.inputs[].uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local";
    private const string OutputS3 = "spec.output.uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local";
    private const string CheckpointS3 = "spec.checkpoint.uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local";
    private const string WaitNeedsSpot = "spec.stoppingCondition.maxWaitSeconds only applies to spot training: set spec.spot: true or remove maxWaitSeconds";
    private const string WaitAtLeastRuntime = "spec.stoppingCondition.maxWaitSeconds must be at least maxRuntimeSeconds (the wait includes the run): set maxRuntimeSeconds and make maxWaitSeconds >= maxRuntimeSeconds";
    private const string UniqueChannels = "spec.inputs[].name must be unique: give every channel its own name";
    private const string UniqueMetrics = "spec.metricDefinitions[].name must be unique: give every metric its own name";
    private const string ThresholdNeedsValue = "spec.rules[].value and spec.rules[].comparison are required when type is MetricThreshold: e.g. value: 0.9 and comparison: GreaterThan stops the job once the metric exceeds 0.9";
    private const string ClockRuleNeedsSeconds = "spec.rules[].seconds is required when type is Hang or StartDeadline: set how long the metric may stay silent, e.g. seconds: 600";
    private const string UniqueRules = "spec.rules[].name must be unique (a rule without a name is named after its type): give each rule its own name";
    private const string HyperParameterKeys = "spec.hyperParameters keys must be 1-256 characters long: shorten the key";
    private const string EnvKeys = "spec.env keys must be environment variable names of at most 512 characters (letters, digits and _, not starting with a digit): rename the variable";
    private const string TagKeys = "spec.sageMaker.tags keys must be 1-128 characters and must not start with aws: (reserved by AWS): rename the tag";
    private const string NameLength = "metadata.name must be a DNS-1035 label of at most 59 characters (lowercase letters, digits and '-', starting with a letter): it names the job's Service and its pods <name>-<replica index>; rename the TrainingJob";

    /// <summary>Every rule of the CRD: where it sits, its message, and (when set) the field it reports.</summary>
    public static readonly (string SchemaPath, string Message, string? FieldPath)[] ExpectedRules =
    [
        ("", NameLength, null),
        ("spec", Immutable, null),
        ("spec", ImageRequired, ".image"),
        ("spec", RoleRequired, ".sageMaker.roleArn"),
        ("spec", InstanceTypeRequired, ".resources.instanceType"),
        ("spec", OutputRequired, ".output"),
        ("spec", InputsS3, ".inputs"),
        ("spec", OutputS3, ".output.uri"),
        ("spec", CheckpointS3, ".checkpoint.uri"),
        ("spec", WaitNeedsSpot, ".stoppingCondition.maxWaitSeconds"),
        ("spec.stoppingCondition", WaitAtLeastRuntime, ".maxWaitSeconds"),
        ("spec.inputs", UniqueChannels, null),
        ("spec.metricDefinitions", UniqueMetrics, null),
        ("spec.rules", ThresholdNeedsValue, null),
        ("spec.rules", ClockRuleNeedsSeconds, null),
        ("spec.rules", UniqueRules, null),
        ("spec.hyperParameters", HyperParameterKeys, null),
        ("spec.env", EnvKeys, null),
        ("spec.sageMaker.tags", TagKeys, null),
    ];

    private static JsonObject Schema => CrdFiles.CommittedSchema();

    [Fact]
    public void EveryRuleIsDeclaredWithItsMessage()
    {
        var actual = CrdRules.All(Schema).Select(r => (r.SchemaPath, r.Message, r.FieldPath)).ToList();
        Assert.Equal(ExpectedRules.OrderBy(r => r.SchemaPath).ThenBy(r => r.Message), actual.OrderBy(r => r.SchemaPath).ThenBy(r => r.Message));
    }

    [Fact]
    public void EveryMessageNamesTheFieldAndTheFix()
    {
        foreach (var rule in CrdRules.All(Schema))
        {
            Assert.Matches(@"^(spec|metadata)\b", rule.Message);
            Assert.Contains(": ", rule.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TheImmutabilityRuleComparesEverySpecFieldButSuspend()
    {
        var rule = Assert.Single(CrdRules.All(Schema), r => r.IsTransition);
        var specFields = ((JsonObject)Schema["properties"]!["spec"]!["properties"]!).Select(p => p.Key).ToList();
        foreach (var field in specFields.Where(f => f != "suspend"))
            Assert.Contains($"self.{field} == oldSelf.{field}", rule.Expression, StringComparison.Ordinal);
        Assert.DoesNotContain("suspend", rule.Expression, StringComparison.Ordinal);
    }

    /// <summary>
    /// The API server refuses a CRD whose rules' estimated cost is too high; the estimate is bounded
    /// only when what a rule iterates over or scans has maxItems/maxProperties/maxLength.
    /// </summary>
    [Fact]
    public void WhatRulesIterateOrScanIsBounded()
    {
        var checkedCalls = 0;
        foreach (var rule in CrdRules.All(Schema))
        {
            var node = At(Schema, rule.SchemaPath);
            foreach (Match m in Receiver().Matches(rule.Expression).Where(m => !m.Value.StartsWith("self.metadata.", StringComparison.Ordinal)))
            {
                var target = Resolve(node, m.Groups["path"].Value);
                var bounded = m.Groups["op"].Value switch
                {
                    "matches" or "startsWith" => target.ContainsKey("maxLength"),
                    _ => target.ContainsKey("maxItems") || target.ContainsKey("maxProperties"),
                };
                Assert.True(bounded, $"{rule.SchemaPath}: `{m.Value}` in `{rule.Expression}` works on an unbounded field");
                checkedCalls++;
            }
            foreach (Match m in IterationVariableField().Matches(rule.Expression))
            {
                // c.uri.startsWith(...) inside self.inputs.all(c, ...): the item field must be bounded.
                var list = Resolve(node, m.Groups["list"].Value);
                var field = (JsonObject)list["items"]!["properties"]![m.Groups["field"].Value]!;
                Assert.True(field.ContainsKey("maxLength"), $"{rule.SchemaPath}: `{m.Value}` scans an unbounded string");
                checkedCalls++;
            }
        }

        // Uniqueness (self.all + self.exists_one, three times), three map-key rules (self.all), the two
        // required-field rules of spec.rules (self.all), self.inputs.all, output/checkpoint startsWith, and
        // c.uri.startsWith inside self.inputs.all. metadata.name is not in our schema; the API server checks it
        // once per object, well within the budget.
        Assert.Equal(15, checkedCalls);
    }

    [Theory]
    [InlineData(Local)]
    [InlineData(InCluster)]
    [InlineData(SageMaker)]
    public void SamplesPassEveryRule(string sample)
    {
        var applied = Applications(Manifests.Sample(sample));
        Assert.NotEmpty(applied);
        Assert.Empty(FailedMessages(applied));
    }

    [Fact]
    public void EveryRuleCompilesAndRuns()
    {
        // The samples plus one update reach every rule; none may fail to compile or evaluate.
        var applied = Manifests.SampleFiles.SelectMany(s => Applications(Manifests.Sample(s)))
            .Concat(Applications(Manifests.Sample(InCluster), Manifests.Sample(InCluster)))
            .ToList();
        var outcomes = CelEvaluator.Evaluate(applied.Select(ToEvaluation).ToList());

        Assert.All(outcomes, o => Assert.Null(o.Error));
        var reached = applied.Select(a => a.Rule.Message).ToHashSet();
        Assert.All(ExpectedRules, r => Assert.Contains(r.Message, reached));
    }

    public sealed record Case(string Name, string Sample, Func<JsonObject, JsonObject> Edit, string[] Failures)
    {
        public override string ToString() => Name;
    }

    private static Case Refused(string name, string sample, Func<JsonObject, JsonObject> edit, params string[] failures) => new(name, sample, edit, failures);

    private static JsonArray Channels(params string[] names) =>
        new(names.Select(n => (JsonNode?)new JsonObject { ["name"] = n, ["uri"] = "s3://bucket-a/data" }).ToArray());

    public static readonly Case[] CreateCases =
    [
        Refused("InCluster without image", InCluster, m => m.With("spec.image", null, remove: true), ImageRequired),
        Refused("SageMaker without image", SageMaker, m => m.With("spec.image", null, remove: true), ImageRequired),
        Refused("default backend without image", InCluster, m => m.With("spec.backend", null, remove: true).With("spec.image", null, remove: true), ImageRequired),
        Refused("SageMaker without roleArn", SageMaker, m => m.With("spec.sageMaker.roleArn", null, remove: true), RoleRequired),
        Refused("SageMaker without a sageMaker section", SageMaker, m => m.With("spec.sageMaker", null, remove: true), RoleRequired),
        Refused("SageMaker without instanceType", SageMaker, m => m.With("spec.resources.instanceType", null, remove: true), InstanceTypeRequired),
        Refused("SageMaker without resources", SageMaker, m => m.With("spec.resources", null, remove: true), InstanceTypeRequired),
        Refused("SageMaker without output", SageMaker, m => m.With("spec.output", null, remove: true), OutputRequired),
        Refused("SageMaker reading file://", SageMaker, m => m.With("spec.inputs[1].uri", "file:///data/test"), InputsS3),
        Refused("SageMaker writing file://", SageMaker, m => m.With("spec.output.uri", "file:///tmp/out"), OutputS3),
        Refused("SageMaker checkpointing to file://", SageMaker, m => m.With("spec.checkpoint.uri", "file:///tmp/ckpt"), CheckpointS3),
        Refused("InCluster reading file://", InCluster, m => m.With("spec.inputs[0].uri", "file:///usr/share/datasets/fashion-mnist"), InputsS3),
        Refused("InCluster writing file://", InCluster, m => m.With("spec.output.uri", "file://./artifacts"), OutputS3),
        Refused("Local sample moved to InCluster", Local, m => m.With("spec.backend", "InCluster").With("spec.image", "ghcr.io/ferry-dev/ferry-trainer:0.1.0"), InputsS3, OutputS3),
        Refused("maxWaitSeconds without spot", InCluster, m => m.With("spec.stoppingCondition.maxWaitSeconds", 7200), WaitNeedsSpot),
        Refused("maxWaitSeconds with spot: false", SageMaker, m => m.With("spec.spot", false), WaitNeedsSpot),
        Refused("maxWaitSeconds below maxRuntimeSeconds", SageMaker, m => m.With("spec.stoppingCondition.maxWaitSeconds", 3599), WaitAtLeastRuntime),
        Refused("maxWaitSeconds without maxRuntimeSeconds", SageMaker, m => m.With("spec.stoppingCondition.maxRuntimeSeconds", null, remove: true), WaitAtLeastRuntime),
        Refused("two channels named train", InCluster, m => m.With("spec.inputs", Channels("train", "test", "train")), UniqueChannels),
        Refused("two metrics named val_loss", SageMaker, m => m.With("spec.metricDefinitions[0].name", "val_loss"), UniqueMetrics),
        Refused("MetricThreshold without value", InCluster, m => m.With("spec.rules[0].type", "MetricThreshold").With("spec.rules[0].comparison", "GreaterThan"), ThresholdNeedsValue),
        Refused("MetricThreshold without comparison", InCluster, m => m.With("spec.rules[0].type", "MetricThreshold").With("spec.rules[0].value", 0.9), ThresholdNeedsValue),
        Refused("Hang without seconds", InCluster, m => m.With("spec.rules[0].type", "Hang"), ClockRuleNeedsSeconds),
        Refused("StartDeadline without seconds", Local, m => m.With("spec.rules[0].type", "StartDeadline"), ClockRuleNeedsSeconds),
        Refused("two rules named loss-plateau", InCluster, m => m.With("spec.rules[0].name", "loss-plateau"), UniqueRules),
        Refused("two unnamed NaN rules", Local, m => { m["spec"]!["rules"]!.AsArray().Add(new JsonObject { ["type"] = "NaN" }); return m; }, UniqueRules),
        Refused("hyperparameter key of 257 characters", Local, m => m.With($"spec.hyperParameters.{new string('k', 257)}", "1"), HyperParameterKeys),
        Refused("empty hyperparameter key", Local, m => { m["spec"]!["hyperParameters"]![""] = "1"; return m; }, HyperParameterKeys),
        Refused("environment name starting with a digit", Local, m => m.With("spec.env.1GPU", "x"), EnvKeys),
        Refused("environment name with a dash", Local, m => m.With("spec.env.LOG-LEVEL", "debug"), EnvKeys),
        Refused("environment name of 513 characters", Local, m => m.With($"spec.env.{new string('E', 513)}", "x"), EnvKeys),
        Refused("tag in the aws: namespace", SageMaker, m => { m["spec"]!["sageMaker"]!["tags"]!["aws:createdBy"] = "me"; return m; }, TagKeys),
        Refused("tag key of 129 characters", SageMaker, m => m.With($"spec.sageMaker.tags.{new string('t', 129)}", "x"), TagKeys),
        Refused("name of 60 characters", Local, m => m.With("metadata.name", new string('n', 60)), NameLength),
        Refused("name with a dot", Local, m => m.With("metadata.name", "fashion.mnist"), NameLength),
        Refused("name starting with a digit", Local, m => m.With("metadata.name", "1st-run"), NameLength),
    ];

    public static TheoryData<Case> Creates() => new(CreateCases);

    [Theory]
    [MemberData(nameof(Creates))]
    public void RulesRefuseTheManifestWithTheirMessage(Case c)
    {
        var failures = FailedMessages(Applications(c.Edit(Manifests.Sample(c.Sample))));
        Assert.Equal(c.Failures.Order(), failures.Order());
    }

    [Fact]
    public void AValidEnvironmentAndLongestNameAreAccepted()
    {
        var manifest = Manifests.Sample(Local)
            .With("metadata.name", new string('n', 59))
            .With("spec.env._PRIVATE", "1")
            .With("spec.env.NCCL_DEBUG", "INFO")
            .With($"spec.hyperParameters.{new string('k', 256)}", "1");
        Assert.Empty(FailedMessages(Applications(manifest)));
    }

    [Fact]
    public void EveryRuleTypeWithItsFieldsIsAccepted()
    {
        var rules = new JsonArray(
            new JsonObject { ["type"] = "NaN" },
            new JsonObject { ["type"] = "LossNotDecreasing", ["patience"] = 5 },
            new JsonObject { ["type"] = "Overfit" },
            new JsonObject { ["name"] = "target", ["type"] = "MetricThreshold", ["metric"] = "val_accuracy", ["value"] = 0.92, ["comparison"] = "GreaterThan" },
            new JsonObject { ["type"] = "Hang", ["seconds"] = 600, ["action"] = "Restart" },
            new JsonObject { ["type"] = "StartDeadline", ["seconds"] = 900, ["action"] = "None" });
        Assert.Empty(FailedMessages(Applications(Manifests.Sample(InCluster).With("spec.rules", rules))));
    }

    public static TheoryData<string, string, JsonNode?, bool> Updates() => new()
    {
        { "image changed", "spec.image", "ghcr.io/ferry-dev/ferry-trainer:0.2.0", false },
        { "hyperparameter changed", "spec.hyperParameters.epochs", "20", false },
        { "replicas changed", "spec.resources.replicas", 4, false },
        { "input uri changed", "spec.inputs[0].uri", "s3://ferry-datasets-example/other/", false },
        { "toleration changed", "spec.inCluster.tolerations[0].effect", "NoExecute", false },
        { "maxRetries changed", "spec.maxRetries", 3, false },
        { "experiment added", "spec.experiment", new JsonObject { ["name"] = "later" }, false },
        { "suspended", "spec.suspend", true, true },
        { "status written", "status", new JsonObject { ["phase"] = "Running" }, true },
        { "label added", "metadata.labels", new JsonObject { ["team"] = "vision" }, true },
    };

    [Theory]
    [MemberData(nameof(Updates))]
    public void OnlySuspendMayChangeAfterCreation(string name, string path, JsonNode? value, bool allowed)
    {
        var old = Manifests.Sample(InCluster);
        var updated = Manifests.Sample(InCluster).With(path, value?.DeepClone());

        var failures = FailedMessages(Applications(updated, old));

        Assert.True(allowed ? failures.Count == 0 : failures.SequenceEqual([Immutable]), $"{name}: {string.Join("; ", failures)}");
    }

    [Fact]
    public void RemovingAnOptionalFieldIsAChange()
    {
        var old = Manifests.Sample(InCluster);
        var updated = Manifests.Sample(InCluster).With("spec.checkpoint", null, remove: true);
        Assert.Equal([Immutable], FailedMessages(Applications(updated, old)));
    }

    [Fact]
    public void SuspendingWithTheDefaultsSpelledOutIsNoChange()
    {
        // Stored objects carry the defaults; a client that sends them (or not) changes nothing else.
        var stored = (JsonObject)CrdRules.WithDefaults(Schema, Manifests.Sample(SageMaker))!;
        var updated = Manifests.Sample(SageMaker).With("spec.suspend", true);
        Assert.Empty(FailedMessages(Applications(updated, stored)));
    }

    private static List<CrdRules.Application> Applications(JsonObject manifest, JsonObject? old = null) =>
        CrdRules.Applications(Schema, CrdRules.WithDefaults(Schema, manifest), old is null ? null : CrdRules.WithDefaults(Schema, old)).ToList();

    private static CelEvaluator.Evaluation ToEvaluation(CrdRules.Application a) =>
        new(a.Rule.Expression, a.Self, a.OldSelf, a.Rule.IsTransition);

    private static List<string> FailedMessages(IReadOnlyList<CrdRules.Application> applied)
    {
        var outcomes = CelEvaluator.Evaluate(applied.Select(ToEvaluation).ToList());
        var errors = outcomes.Zip(applied).Where(p => p.First.Error is not null).Select(p => $"{p.Second.Rule.Expression}: {p.First.Error}").ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        return outcomes.Zip(applied).Where(p => p.First.Value == false).Select(p => p.Second.Rule.Message).ToList();
    }

    private static JsonObject At(JsonObject schema, string path)
    {
        var node = schema;
        foreach (var segment in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
            node = (JsonObject)node["properties"]![segment]!;
        return node;
    }

    private static JsonObject Resolve(JsonObject node, string path)
    {
        foreach (var segment in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
            node = (JsonObject)node["properties"]![segment]!;
        return node;
    }

    // self, self.inputs, self.output.uri ... followed by an iterating or scanning call.
    [GeneratedRegex(@"\bself(?<path>(\.[A-Za-z]+)*)\.(?<op>all|exists|exists_one|map|filter|matches|startsWith)\(")]
    private static partial Regex Receiver();

    // self.<list>.all(c, ... c.<field>.startsWith(...)) / matches(...).
    [GeneratedRegex(@"\bself(?<list>(\.[A-Za-z]+)+)\.(all|exists|exists_one)\((?<var>[a-z]+),[^)]*?\k<var>\.(?<field>[A-Za-z]+)\.(matches|startsWith)\(")]
    private static partial Regex IterationVariableField();
}
