using Amazon.Runtime;

namespace Ferry.Operator.SageMaker;

/// <summary>How <see cref="SageMakerClient"/> reaches SageMaker and how hard it retries.</summary>
public sealed record SageMakerClientOptions
{
    /// <summary>The AWS region, e.g. <c>eu-west-1</c>; it names the endpoint and scopes the signature.</summary>
    public required string Region { get; init; }

    /// <summary>An endpoint override (a VPC interface endpoint, or an emulator); null uses <c>https://api.sagemaker.&lt;region&gt;.amazonaws.com</c>.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>Explicit credentials; null resolves them through the SDK's default chain (IRSA web identity, environment, profile, instance role).</summary>
    public AWSCredentials? Credentials { get; init; }

    /// <summary>Attempts per call, the first included (throttling and 5xx answers are retried).</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>The first retry's median delay; later retries grow exponentially, with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest delay between two attempts.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long one attempt may take before it is abandoned (and retried).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock for signatures, backoff delays and attempt timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The endpoint requests go to.</summary>
    public Uri ResolvedEndpoint => Endpoint ?? new Uri(Region.StartsWith("cn-", StringComparison.Ordinal)
        ? $"https://api.sagemaker.{Region}.amazonaws.com.cn/"
        : $"https://api.sagemaker.{Region}.amazonaws.com/");
}
