using Ferry.Operator.SageMaker;
using Ferry.SageMaker.Tests.Support;

namespace Ferry.SageMaker.Tests.Client;

/// <summary>
/// Without explicit credentials the client uses the SDK's default chain; in a pod with IRSA that is a web identity token
/// exchanged at STS (moto's here) for session credentials, which then sign the SageMaker calls. Every exchange gets
/// fresh random keys from moto, so the emulator cannot know the client's secret: the test checks the client signed with
/// session credentials from STS (the key moto issued, with its session token), and the chain's own exchange works.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class WebIdentityCredentialsTests
{
    private static readonly string[] Variables =
    [
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_REGION",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    ];

    [Fact]
    public async Task IrsaWebIdentityCredentialsSignTheCalls()
    {
        await using var moto = await MotoServer.StartAsync();
        await using var h = await EmulatorHarness.StartAsync();
        var token = Path.GetTempFileName();
        await File.WriteAllTextAsync(token, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZmVycnk6b3BlcmF0b3IifQ.c2lnbmF0dXJl");
        var saved = Variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var variable in Variables)
            {
                Environment.SetEnvironmentVariable(variable, null);
            }

            Environment.SetEnvironmentVariable("AWS_WEB_IDENTITY_TOKEN_FILE", token);
            Environment.SetEnvironmentVariable("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/ferry-operator");
            Environment.SetEnvironmentVariable("AWS_ROLE_SESSION_NAME", "ferry-operator");
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_STS", moto.Endpoint.ToString().TrimEnd('/'));
            Environment.SetEnvironmentVariable("AWS_REGION", "eu-west-1");
            using var resolver = new Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver();
            var chain = await resolver.ResolveIdentityAsync(null!, CancellationToken.None);
            var session = await chain.GetCredentialsAsync();
            using var client = new SageMakerClient(new SageMakerClientOptions { Region = "eu-west-1", Endpoint = h.Emulator.BaseAddress, TimeProvider = h.Time, MaxAttempts = 1 });

            var refused = await Assert.ThrowsAsync<SageMakerAccessDeniedException>(() => client.ListTrainingJobsAsync(new ListTrainingJobsRequest()));

            Assert.IsType<Amazon.Runtime.AssumeRoleWithWebIdentityCredentials>(chain);
            Assert.True(session.UseToken);
            Assert.StartsWith("ASIA", session.AccessKey);
            var signed = Assert.Single(h.Emulator.RequestLog.Entries);
            Assert.StartsWith("ASIA", signed.AccessKeyId);
            Assert.True(signed.HadSessionToken);
            Assert.Equal("UnrecognizedClientException", refused.ErrorCode);
        }
        finally
        {
            foreach (var (variable, value) in saved)
            {
                Environment.SetEnvironmentVariable(variable, value);
            }

            File.Delete(token);
        }
    }
}
