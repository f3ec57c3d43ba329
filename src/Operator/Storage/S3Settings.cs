using Amazon.Runtime;

namespace Ferry.Operator.Storage;

/// <summary>
/// How to reach S3. By default the AWS SDK's credential chain (IRSA / pod identity in a cluster, env, profile)
/// and the region from `AWS_REGION`; an endpoint override (`FERRY_S3_ENDPOINT`, else `AWS_ENDPOINT_URL_S3`,
/// else `AWS_ENDPOINT_URL`) points at an S3-compatible service and turns on path-style addressing.
/// </summary>
/// <param name="ServiceUrl">Endpoint override, e.g. `http://127.0.0.1:9000`; null for AWS.</param>
/// <param name="ForcePathStyle">`http://host/bucket/key` instead of `http://bucket.host/key` (S3-compatible services need it).</param>
/// <param name="Region">Signing region; null lets the SDK resolve it.</param>
/// <param name="Credentials">Explicit credentials; null uses the SDK's default chain.</param>
public sealed record S3Settings(string? ServiceUrl = null, bool ForcePathStyle = false, string? Region = null, AWSCredentials? Credentials = null)
{
    /// <summary>Environment variable with an S3 endpoint override (checked first).</summary>
    public const string EndpointVariable = "FERRY_S3_ENDPOINT";

    /// <summary>Environment variable that forces (`true`) or disables (`false`) path-style addressing.</summary>
    public const string ForcePathStyleVariable = "FERRY_S3_FORCE_PATH_STYLE";

    /// <summary>Reads the settings from environment variables (see the type summary).</summary>
    public static S3Settings FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        var endpoint = NonEmpty(getVariable(EndpointVariable))
            ?? NonEmpty(getVariable("AWS_ENDPOINT_URL_S3"))
            ?? NonEmpty(getVariable("AWS_ENDPOINT_URL"));
        var pathStyle = NonEmpty(getVariable(ForcePathStyleVariable)) is { } flag
            ? bool.Parse(flag)
            : endpoint is not null;
        var region = NonEmpty(getVariable("AWS_REGION")) ?? NonEmpty(getVariable("AWS_DEFAULT_REGION"));
        return new S3Settings(endpoint, pathStyle, region);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
