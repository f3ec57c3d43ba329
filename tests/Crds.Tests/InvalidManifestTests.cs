using System.Text.Json.Nodes;
using Ferry.Crds.Tests.Support;
using NJsonSchema.Validation;

namespace Ferry.Crds.Tests;

/// <summary>Manifests that break one limit of the API are refused by the CRD schema, on that field.</summary>
public sealed class InvalidManifestTests
{
    private const string Local = "fashion-mnist-local.yaml";
    private const string InCluster = "fashion-mnist-incluster.yaml";
    private const string SageMaker = "fashion-mnist-sagemaker.yaml";

    public sealed record Case(string Name, string Sample, Func<JsonObject, JsonObject> Edit, string Field, ValidationErrorKind Kind)
    {
        public override string ToString() => Name;
    }

    private static Case Set(string name, string sample, string path, JsonNode? value, ValidationErrorKind kind, string? field = null) =>
        new(name, sample, m => m.With(path, value), field ?? path, kind);

    private static Case Remove(string name, string sample, string path, ValidationErrorKind kind, string? field = null) =>
        new(name, sample, m => m.With(path, null, remove: true), field ?? path, kind);

    private static JsonObject Entries(int count, int valueLength = 1) =>
        new(Enumerable.Range(0, count).Select(i => KeyValuePair.Create($"k{i}", (JsonNode?)new string('v', valueLength))));

    private static JsonArray Channels(int count) =>
        new(Enumerable.Range(0, count).Select(i => (JsonNode?)new JsonObject { ["name"] = $"c{i}", ["uri"] = "s3://bucket-a/data" }).ToArray());

    private static JsonArray Metrics(int count) =>
        new(Enumerable.Range(0, count).Select(i => (JsonNode?)new JsonObject { ["name"] = $"m{i}", ["regex"] = $"m{i}=([0-9.]+)" }).ToArray());

    private static JsonArray Strings(int count, string prefix) =>
        new(Enumerable.Range(0, count).Select(i => (JsonNode?)$"{prefix}{i}").ToArray());

    public static readonly Case[] Cases =
    [
        Remove("spec is required", InCluster, "spec", ValidationErrorKind.PropertyRequired),
        Set("unknown spec field (a typo)", InCluster, "spec.replicas", 2, ValidationErrorKind.NoAdditionalPropertiesAllowed),
        Set("unknown backend", InCluster, "spec.backend", "Cloud", ValidationErrorKind.NotInEnumeration),
        Set("image empty", InCluster, "spec.image", "", ValidationErrorKind.StringTooShort),
        Set("command too long", InCluster, "spec.command", Strings(33, "a"), ValidationErrorKind.TooManyItems),
        Set("suspend not a boolean", InCluster, "spec.suspend", "yes", ValidationErrorKind.BooleanExpected),
        Set("replicas 0", InCluster, "spec.resources.replicas", 0, ValidationErrorKind.NumberTooSmall),
        Set("replicas 257", InCluster, "spec.resources.replicas", 257, ValidationErrorKind.NumberTooBig),
        Set("replicas as string", InCluster, "spec.resources.replicas", "2", ValidationErrorKind.IntegerExpected),
        Set("gpusPerReplica -1", InCluster, "spec.resources.gpusPerReplica", -1, ValidationErrorKind.NumberTooSmall),
        Set("gpusPerReplica 17", InCluster, "spec.resources.gpusPerReplica", 17, ValidationErrorKind.NumberTooBig),
        Set("cpu not a quantity", InCluster, "spec.resources.cpu", "four", ValidationErrorKind.PatternMismatch),
        Set("memory with a space", InCluster, "spec.resources.memory", "16 GB", ValidationErrorKind.PatternMismatch),
        Set("instanceType without ml. prefix", SageMaker, "spec.resources.instanceType", "g5.xlarge", ValidationErrorKind.PatternMismatch),
        Set("volumeSizeGB 0", SageMaker, "spec.resources.volumeSizeGB", 0, ValidationErrorKind.NumberTooSmall),
        Set("volumeSizeGB 16385", SageMaker, "spec.resources.volumeSizeGB", 16385, ValidationErrorKind.NumberTooBig),
        Set("maxRuntimeSeconds 0", InCluster, "spec.stoppingCondition.maxRuntimeSeconds", 0, ValidationErrorKind.NumberTooSmall),
        Set("maxRuntimeSeconds over 28 days", InCluster, "spec.stoppingCondition.maxRuntimeSeconds", 2419201, ValidationErrorKind.NumberTooBig),
        Set("maxWaitSeconds 0", SageMaker, "spec.stoppingCondition.maxWaitSeconds", 0, ValidationErrorKind.NumberTooSmall),
        Set("maxRetries -1", InCluster, "spec.maxRetries", -1, ValidationErrorKind.NumberTooSmall),
        Set("maxRetries 31", InCluster, "spec.maxRetries", 31, ValidationErrorKind.NumberTooBig),
        Set("21 input channels", InCluster, "spec.inputs", Channels(21), ValidationErrorKind.TooManyItems),
        Set("channel name with a space", InCluster, "spec.inputs[0].name", "train data", ValidationErrorKind.PatternMismatch),
        Set("channel name empty", InCluster, "spec.inputs[0].name", "", ValidationErrorKind.StringTooShort),
        Set("channel name of 65 characters", InCluster, "spec.inputs[0].name", new string('a', 65), ValidationErrorKind.StringTooLong),
        Remove("channel without uri", InCluster, "spec.inputs[0].uri", ValidationErrorKind.PropertyRequired),
        Set("channel uri over http", InCluster, "spec.inputs[0].uri", "https://example.com/data", ValidationErrorKind.PatternMismatch),
        Set("channel uri with an upper-case bucket", InCluster, "spec.inputs[0].uri", "s3://My_Bucket/data", ValidationErrorKind.PatternMismatch),
        Set("unknown distribution", InCluster, "spec.inputs[0].distribution", "Random", ValidationErrorKind.NotInEnumeration),
        Set("output on gs://", InCluster, "spec.output.uri", "gs://bucket-a/out", ValidationErrorKind.PatternMismatch),
        Remove("output without uri", InCluster, "spec.output.uri", ValidationErrorKind.PropertyRequired),
        Remove("checkpoint without uri", InCluster, "spec.checkpoint.uri", ValidationErrorKind.PropertyRequired),
        Set("101 hyperparameters", InCluster, "spec.hyperParameters", Entries(101), ValidationErrorKind.TooManyProperties),
        Set("hyperparameter value of 2501 characters", InCluster, "spec.hyperParameters.model", new string('x', 2501), ValidationErrorKind.StringTooLong),
        Set("hyperparameter value not quoted", InCluster, "spec.hyperParameters.epochs", 10, ValidationErrorKind.StringExpected),
        Set("101 environment variables", InCluster, "spec.env", Entries(101), ValidationErrorKind.TooManyProperties),
        Set("environment value of 513 characters", InCluster, "spec.env.LOG_LEVEL", new string('x', 513), ValidationErrorKind.StringTooLong),
        Set("41 metric definitions", SageMaker, "spec.metricDefinitions", Metrics(41), ValidationErrorKind.TooManyItems),
        Set("metric name of 256 characters", SageMaker, "spec.metricDefinitions[0].name", new string('m', 256), ValidationErrorKind.StringTooLong),
        Set("metric regex empty", SageMaker, "spec.metricDefinitions[0].regex", "", ValidationErrorKind.StringTooShort),
        Set("metric regex of 501 characters", SageMaker, "spec.metricDefinitions[0].regex", new string('r', 501), ValidationErrorKind.StringTooLong),
        Set("21 rules", InCluster, "spec.rules", new JsonArray(Enumerable.Range(0, 21).Select(_ => (JsonNode?)new JsonObject { ["type"] = "NaN" }).ToArray()), ValidationErrorKind.TooManyItems),
        Remove("rule without type", InCluster, "spec.rules[0].type", ValidationErrorKind.PropertyRequired),
        Set("unknown rule type", InCluster, "spec.rules[0].type", "Diverging", ValidationErrorKind.NotInEnumeration),
        Set("unknown rule action", InCluster, "spec.rules[0].action", "Pause", ValidationErrorKind.NotInEnumeration),
        Set("rule patience 0", InCluster, "spec.rules[1].patience", 0, ValidationErrorKind.NumberTooSmall),
        Set("rule threshold negative", InCluster, "spec.rules[1].threshold", -0.5, ValidationErrorKind.NumberTooSmall),
        Set("experiment name with a space", SageMaker, "spec.experiment.name", "fashion mnist", ValidationErrorKind.PatternMismatch),
        Remove("experiment without name", SageMaker, "spec.experiment.name", ValidationErrorKind.PropertyRequired),
        Set("role ARN with a short account", SageMaker, "spec.sageMaker.roleArn", "arn:aws:iam::1234:role/ferry", ValidationErrorKind.PatternMismatch),
        Set("role ARN of a user", SageMaker, "spec.sageMaker.roleArn", "arn:aws:iam::123456789012:user/ferry", ValidationErrorKind.PatternMismatch),
        Set("region misspelt", SageMaker, "spec.sageMaker.region", "Ireland", ValidationErrorKind.PatternMismatch),
        Set("51 tags", SageMaker, "spec.sageMaker.tags", Entries(51), ValidationErrorKind.TooManyProperties),
        Set("tag value of 257 characters", SageMaker, "spec.sageMaker.tags.team", new string('t', 257), ValidationErrorKind.StringTooLong),
        Set("vpc without subnets", SageMaker, "spec.sageMaker.vpc", new JsonObject { ["securityGroupIds"] = Strings(1, "sg-"), ["subnets"] = new JsonArray() }, ValidationErrorKind.TooFewItems, "spec.sageMaker.vpc.subnets"),
        Set("vpc with 6 security groups", SageMaker, "spec.sageMaker.vpc", new JsonObject { ["securityGroupIds"] = Strings(6, "sg-"), ["subnets"] = Strings(1, "subnet-") }, ValidationErrorKind.TooManyItems, "spec.sageMaker.vpc.securityGroupIds"),
        Set("networkIsolation not a boolean", SageMaker, "spec.sageMaker.networkIsolation", "on", ValidationErrorKind.BooleanExpected),
        Set("unknown cleanPodPolicy", InCluster, "spec.inCluster.cleanPodPolicy", "Never", ValidationErrorKind.NotInEnumeration),
        Set("negative ttlSecondsAfterFinished", InCluster, "spec.inCluster.ttlSecondsAfterFinished", -1, ValidationErrorKind.NumberTooSmall),
        Set("serviceAccountName with upper case", InCluster, "spec.inCluster.serviceAccountName", "Ferry", ValidationErrorKind.PatternMismatch),
        Set("nodeSelector value of 64 characters", InCluster, "spec.inCluster.nodeSelector.zone", new string('z', 64), ValidationErrorKind.StringTooLong),
        Set("unknown toleration field", InCluster, "spec.inCluster.tolerations[0].tolerate", true, ValidationErrorKind.NoAdditionalPropertiesAllowed),
        Set("unknown phase in status", Local, "status", new JsonObject { ["phase"] = "Done" }, ValidationErrorKind.NotInEnumeration, "status.phase"),
        Set("condition status Maybe", Local, "status", new JsonObject
        {
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "Complete", ["status"] = "Maybe", ["reason"] = "Done", ["message"] = "", ["lastTransitionTime"] = "2026-01-02T03:04:05Z",
            }),
        }, ValidationErrorKind.NotInEnumeration, "status.conditions[0].status"),
    ];

    public static TheoryData<Case> All() => new(Cases);

    [Fact]
    public void TheTableCoversAtLeastThirtyLimits() => Assert.True(Cases.Length >= 30, $"{Cases.Length} cases");

    [Theory]
    [MemberData(nameof(All))]
    public void SchemaRefusesTheManifestOnTheField(Case c)
    {
        var manifest = c.Edit(Manifests.Sample(c.Sample));
        var errors = CrdSchemaValidator.FromCommittedCrd().Validate(manifest);

        var expectedPath = "#/" + c.Field;
        Assert.True(errors.Any(e => e.Path == expectedPath && e.Kind == c.Kind),
            $"expected {c.Kind} at {expectedPath}; got: {string.Join("; ", errors.Select(e => $"{e.Kind} at {e.Path}"))}");
    }
}
