using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Schema;

namespace Ferry.KubeEmulator.Tests.Schema;

/// <summary>Small builders for schemas and objects used by the validator tests.</summary>
internal static class SchemaFixtures
{
    /// <summary>A root schema whose `spec` has the given properties (JSON object text) and optional extra keywords.</summary>
    public static JsonObject SpecSchema(string specProperties, string specExtra = "", string rootExtra = "") =>
        (JsonObject)JsonNode.Parse($$"""
            {
              "type": "object",
              "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {{specProperties}} {{(specExtra.Length > 0 ? "," + specExtra : "")}}},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
              }
              {{(rootExtra.Length > 0 ? "," + rootExtra : "")}}
            }
            """)!;

    /// <summary>A TrainingJob-shaped object with the given spec (JSON object text).</summary>
    public static JsonObject Object(string spec, string? status = null, string name = "tj-sample") =>
        (JsonObject)JsonNode.Parse($$"""
            {
              "apiVersion": "ferry.dev/v1alpha1",
              "kind": "TrainingJob",
              "metadata": {"name": "{{name}}", "namespace": "default"},
              "spec": {{spec}}
              {{(status is null ? "" : ", \"status\": " + status)}}
            }
            """)!;

    public static string[] Messages(SchemaValidationResult result) => [.. result.Errors.Select(e => e.ToString())];
}

/// <summary>One validator (one Node process) shared by the tests of a class.</summary>
public sealed class ValidatorFixture : IAsyncLifetime
{
    public CustomResourceValidator Validator { get; } = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Validator.DisposeAsync();
}
