using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Signing;
using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;
using Ferry.SageMakerEmulator;
using Ferry.SageMakerEmulator.Model;

namespace Ferry.SageMaker.Tests.Emulator;

/// <summary>The emulator's front end: requests are checked against botocore's model and signatures recomputed, as AWS does.</summary>
public sealed class ValidationTests
{
    private static readonly Lazy<ShapeValidator> Validator = new(() => new ShapeValidator(ServiceModel.LoadBotocore("sagemaker", "2017-07-24")));

    private static JsonObject ValidCreate() =>
        JsonNode.Parse(JsonSerializer.Serialize(TrainingJobRequestBuilder.Build(Jobs.SageMaker(), 1), SageMakerJson.Options))!.AsObject();

    private static ShapeValidator.Result Validate(JsonNode document)
    {
        using var parsed = JsonDocument.Parse(document.ToJsonString());
        return Validator.Value.Validate("CreateTrainingJobRequest", parsed.RootElement);
    }

    public static TheoryData<string, Action<JsonObject>, string> Violations() => new()
    {
        { "required", r => r.Remove("RoleArn"), "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" },
        { "nested required", r => r["OutputDataConfig"]!.AsObject().Remove("S3OutputPath"), "Value null at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must not be null" },
        { "enum", r => r["AlgorithmSpecification"]!["TrainingInputMode"] = "Stream", "at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]" },
        { "instance type enum", r => r["ResourceConfig"]!["InstanceType"] = "ml.x1.huge", "at 'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set" },
        { "max length", r => r["TrainingJobName"] = new string('a', 64), "at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63" },
        { "pattern", r => r["TrainingJobName"] = "-leading-hyphen", "Value '-leading-hyphen' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" },
        { "whole-value pattern", r => r["RoleArn"] = "arn:aws:iam::123456789012:role/x trailing!", "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern" },
        { "list count", r => r["InputDataConfig"] = new JsonArray(), "at 'inputDataConfig' failed to satisfy constraint: Member must have length greater than or equal to 1" },
        { "list member", r => r["InputDataConfig"] = new JsonArray(new JsonObject { ["ChannelName"] = "bad name", ["DataSource"] = new JsonObject() }), "at 'inputDataConfig.1.member.channelName' failed to satisfy constraint: Member must satisfy regular expression pattern" },
        { "range", r => r["StoppingCondition"]!["MaxRuntimeInSeconds"] = 0, "Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1" },
        { "map value length", r => r["Environment"] = new JsonObject { ["X"] = new string('v', 513) }, "at 'environment.X.value' failed to satisfy constraint: Member must have length less than or equal to 512" },
        { "map key pattern", r => r["Environment"] = new JsonObject { ["1X"] = "v" }, "Value '1X' at 'environment.1X.key' failed to satisfy constraint: Member must satisfy regular expression pattern" },
        { "tag pattern", r => r["Tags"] = new JsonArray(new JsonObject { ["Key"] = "a;b", ["Value"] = "v" }), "at 'tags.1.member.key' failed to satisfy constraint" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void ViolationsArePhrasedAsAwsPhrasesThem(string constraint, Action<JsonObject> breakIt, string expected)
    {
        var request = ValidCreate();
        Assert.True(Validate(request).IsValid, constraint);
        breakIt(request);

        var result = Validate(request);

        Assert.Empty(result.TypeErrors);
        Assert.Contains(result.Violations, v => v.Contains(expected, StringComparison.Ordinal));
        Assert.StartsWith($"{result.Violations.Count} validation error", result.ValidationMessage);
    }

    [Fact]
    public void SeveralViolationsAreCountedInOneMessage()
    {
        var request = ValidCreate();
        request.Remove("RoleArn");
        request["TrainingJobName"] = "bad_name";

        var result = Validate(request);

        Assert.StartsWith("2 validation errors detected: ", result.ValidationMessage);
    }

    [Theory]
    [InlineData("TrainingJobName", "42")]
    [InlineData("EnableManagedSpotTraining", "\"yes\"")]
    [InlineData("HyperParameters", "[]")]
    public void WrongJsonTypesAreSerializationErrors(string member, string json)
    {
        var request = ValidCreate();
        request[member] = JsonNode.Parse(json);

        Assert.NotEmpty(Validate(request).TypeErrors);
    }

    [Fact]
    public void EveryPatternOfTheModelCompilesInDotNet()
    {
        var patterns = Validator.Value.Model.Shapes.Select(s => (string?)s.Value!["pattern"]).OfType<string>().Distinct().ToList();

        Assert.True(patterns.Count > 100, $"only {patterns.Count} patterns: is this the SageMaker model?");
        Assert.All(patterns, p => Validator.Value.PatternFor(p));
    }

    [Theory]
    [InlineData(@"[\p{Alnum}\-]+", @"[a-zA-Z0-9\-]+", "ab-9", "a_b")]
    [InlineData(@"\p{Alpha}+", @"[a-zA-Z]+", "abc", "ab1")]
    [InlineData(@"[a-zA-Z0-9\_\-]+", @"[a-zA-Z0-9_\-]+", "a_b-c", "a b")]
    [InlineData(@"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF]*", @"[\u0020-\uD7FF\uE000-\uFFFD\uD800-\uDFFF]*", "text 🚀", "\u0001")]
    public void JavaOnlyConstructsAreTranslated(string java, string dotnet, string matching, string notMatching)
    {
        Assert.Equal(dotnet, ShapeValidator.TranslateJavaPattern(java));
        Assert.Matches(Validator.Value.PatternFor(java), matching);
        Assert.DoesNotMatch(Validator.Value.PatternFor(java), notMatching);
    }

    [Fact]
    public void AMissingModelFailsLoudly()
    {
        var empty = Directory.CreateTempSubdirectory("no-botocore-").FullName;
        try
        {
            var error = Assert.Throws<FileNotFoundException>(() => ServiceModel.LocateIn(empty, "sagemaker", "2017-07-24"));
            Assert.Contains("service-2.json", error.Message);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public async Task UnsignedTamperedAndExpiredRequestsAreRefused()
    {
        await using var h = await EmulatorHarness.StartAsync();
        using var http = new HttpClient();
        var body = "{}"u8.ToArray();

        var unsigned = await Send(http, h, body, sign: false);
        var good = await Send(http, h, body);
        var tampered = await Send(http, h, body, bodySent: "{\"MaxResults\":5}"u8.ToArray());
        var expired = await Send(http, h, body, signedAt: EmulatorHarness.Start.AddMinutes(-6));
        var unknownOperation = await Send(http, h, body, target: "SageMaker.DescribeTheWeather");

        Assert.Equal((HttpStatusCode.Forbidden, "MissingAuthenticationTokenException"), unsigned);
        Assert.Equal((HttpStatusCode.OK, null), good);
        Assert.Equal((HttpStatusCode.Forbidden, "InvalidSignatureException"), tampered);
        Assert.Equal((HttpStatusCode.Forbidden, "InvalidSignatureException"), expired);
        Assert.Equal((HttpStatusCode.BadRequest, "UnknownOperationException"), unknownOperation);
    }

    private static async Task<(HttpStatusCode, string?)> Send(HttpClient http, EmulatorHarness h, byte[] body, bool sign = true,
        byte[]? bodySent = null, DateTimeOffset? signedAt = null, string target = "SageMaker.ListTrainingJobs")
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, h.Emulator.BaseAddress) { Content = new ByteArrayContent(bodySent ?? body) };
        message.Content.Headers.TryAddWithoutValidation("Content-Type", SageMakerClient.ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        if (sign)
        {
            var signing = new AWSSigningRequest { HttpMethod = HttpMethod.Post, RequestUri = h.Emulator.BaseAddress, Content = body };
            signing.Headers["Content-Type"] = SageMakerClient.ContentType;
            signing.Headers["X-Amz-Target"] = target;
            var credentials = SageMakerApiEmulator.TestCredentials;
            var result = AWSSigV4Signer.Sign(signing, new AWSSigV4Parameters
            {
                Credentials = new BasicAWSCredentials(credentials.AccessKeyId, credentials.SecretAccessKey),
                Region = RegionEndpoint.GetBySystemName(h.Emulator.Options.Region),
                Service = "sagemaker",
                SignPayload = true,
                SignedAt = (signedAt ?? h.Time.GetUtcNow()).UtcDateTime,
            });
            foreach (var (name, value) in result.Headers)
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await http.SendAsync(message);
        var text = await response.Content.ReadAsStringAsync();
        var code = response.IsSuccessStatusCode ? null : (string?)JsonNode.Parse(text)!["__type"];
        return (response.StatusCode, code);
    }
}
