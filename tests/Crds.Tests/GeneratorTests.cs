using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ferry.Crds.Generation;
using Ferry.Crds.Schema;

namespace Ferry.Crds.Tests;

/// <summary>The schema generator maps markers to OpenAPI keywords and refuses markers it cannot honour.</summary>
public sealed class GeneratorTests
{
    [Description("Sample is a small type for the generator.")]
    [CelRule("self.low <= self.high", Message = "spec.low must not exceed spec.high: lower it", FieldPath = ".low")]
    private sealed class Sample
    {
        [JsonPropertyName("low")]
        [Required]
        [Minimum(0)]
        [Maximum(10)]
        [Description("Low end.")]
        public int Low { get; set; }

        [JsonPropertyName("high")]
        [Default(5)]
        public long High { get; set; } = 5;

        [JsonPropertyName("tags")]
        [Items(Min = 1, Max = 3)]
        [Length(Max = 8)]
        [Pattern("^[a-z]+$")]
        public IList<string>? Tags { get; set; }

        [JsonPropertyName("labels")]
        [MaxProperties(4)]
        [Length(Max = 63)]
        public IDictionary<string, string>? Labels { get; set; }

        [JsonPropertyName("ratio")]
        public double? Ratio { get; set; }
    }

    private sealed class MisMarked
    {
        [JsonPropertyName("count")]
        [Pattern("^[0-9]+$")]
        public int Count { get; set; }
    }

    [Fact]
    public void MarkersBecomeOpenApiKeywords()
    {
        var schema = OpenApiSchemaBuilder.ForType(typeof(Sample));

        var expected = JsonNode.Parse("""
            {
              "description": "Sample is a small type for the generator.",
              "properties": {
                "high": { "default": 5, "format": "int64", "type": "integer" },
                "labels": { "additionalProperties": { "maxLength": 63, "type": "string" }, "maxProperties": 4, "type": "object" },
                "low": { "description": "Low end.", "format": "int32", "maximum": 10, "minimum": 0, "type": "integer" },
                "ratio": { "format": "double", "type": "number" },
                "tags": { "items": { "maxLength": 8, "pattern": "^[a-z]+$", "type": "string" }, "maxItems": 3, "minItems": 1, "type": "array" }
              },
              "required": [ "low" ],
              "type": "object",
              "x-kubernetes-validations": [
                { "fieldPath": ".low", "message": "spec.low must not exceed spec.high: lower it", "rule": "self.low <= self.high" }
              ]
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, schema), schema.ToJsonString());
    }

    [Fact]
    public void KeysAreInOrdinalOrder()
    {
        var keys = OpenApiSchemaBuilder.ForType(typeof(Sample))["properties"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
    }

    [Fact]
    public void AMarkerThatDoesNotFitItsPropertyIsRefused()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => OpenApiSchemaBuilder.ForType(typeof(MisMarked)));
        Assert.Contains("MisMarked.Count", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("False")]
    [InlineData("1")]
    [InlineData("0.5")]
    [InlineData("1e3")]
    [InlineData("null")]
    [InlineData("~")]
    [InlineData("2026-01-02")]
    [InlineData("")]
    public void YamlQuotesStringsAReaderWouldMistype(string text)
    {
        var yaml = YamlText.Write(new JsonObject { ["value"] = text });
        Assert.Equal($"value: \"{text}\"\n", yaml);
    }

    [Fact]
    public void YamlKeepsPlainStringsPlain() =>
        Assert.Equal("value: s3://bucket/key\n", YamlText.Write(new JsonObject { ["value"] = "s3://bucket/key" }));
}
