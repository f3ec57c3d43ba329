using System.Text.Json.Nodes;
using Ferry.Crds.Tests.Support;
using NJsonSchema.Validation;

namespace Ferry.Crds.Tests;

/// <summary>The schema of `spec.inCluster`'s pod fields: pull secrets and policy, /dev/shm size, and the training identity.</summary>
public sealed class InClusterPodFieldTests
{
    private const string InCluster = "fashion-mnist-incluster.yaml";

    private static IReadOnlyList<ValidationError> Errors(string path, JsonNode? value) =>
        CrdSchemaValidator.FromCommittedCrd().Validate(Manifests.Sample(InCluster).With(path, value)).ToList();

    public static TheoryData<string, string, ValidationErrorKind> Refused => new()
    {
        { "spec.inCluster.securityContext.runAsUser", "0", ValidationErrorKind.NumberTooSmall },
        { "spec.inCluster.securityContext.runAsUser", "2147483648", ValidationErrorKind.NumberTooBig },
        { "spec.inCluster.securityContext.runAsGroup", "-1", ValidationErrorKind.NumberTooSmall },
        { "spec.inCluster.securityContext.fsGroup", "-1", ValidationErrorKind.NumberTooSmall },
        { "spec.inCluster.securityContext.privileged", "true", ValidationErrorKind.NoAdditionalPropertiesAllowed },
        { "spec.inCluster.imagePullPolicy", "\"Sometimes\"", ValidationErrorKind.NotInEnumeration },
        { "spec.inCluster.shmSize", "\"lots\"", ValidationErrorKind.PatternMismatch },
        { "spec.inCluster.imagePullSecrets", "[{\"name\":\"Bad_Name\"}]", ValidationErrorKind.PatternMismatch },
        { "spec.inCluster.imagePullSecrets", "[{}]", ValidationErrorKind.PropertyRequired },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Bad_values_are_refused_on_the_field(string path, string json, ValidationErrorKind kind)
    {
        var errors = Errors(path, JsonNode.Parse(json));
        Assert.True(errors.Any(e => e.Kind == kind && e.Path!.StartsWith("#/" + path, StringComparison.Ordinal)),
            $"expected {kind} at {path}; got: {string.Join("; ", errors.Select(e => $"{e.Kind} at {e.Path}"))}");
    }

    [Theory]
    [InlineData("spec.inCluster.securityContext", """{"runAsUser":1000,"runAsGroup":0,"fsGroup":2000}""")]
    [InlineData("spec.inCluster.imagePullPolicy", "\"IfNotPresent\"")]
    [InlineData("spec.inCluster.shmSize", "\"8Gi\"")]
    [InlineData("spec.inCluster.shmSize", "1073741824")]
    [InlineData("spec.inCluster.imagePullSecrets", """[{"name":"ghcr-pull"},{"name":"ecr.pull"}]""")]
    public void Good_values_are_accepted(string path, string json) => Assert.Empty(Errors(path, JsonNode.Parse(json)));
}
