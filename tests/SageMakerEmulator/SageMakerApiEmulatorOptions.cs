using Ferry.SageMakerEmulator.Signing;

namespace Ferry.SageMakerEmulator;

/// <summary>Settings for <see cref="SageMakerApiEmulator"/>.</summary>
public sealed class SageMakerApiEmulatorOptions
{
    /// <summary>The clock of the simulated jobs and of signature expiry (use FakeTimeProvider in tests).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The region this endpoint serves; signatures must be scoped to it.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>The AWS account of the ARNs.</summary>
    public string Account { get; init; } = "123456789012";

    /// <summary>The credentials accepted besides <see cref="SageMakerApiEmulator.TestCredentials"/>.</summary>
    public IReadOnlyList<EmulatorCredentials> Credentials { get; init; } = [];

    /// <summary>botocore's SageMaker model file; null finds it through <c>python3</c>.</summary>
    public string? ServiceModelPath { get; init; }

    /// <summary>botocore's CloudWatch Logs model file; null finds it through <c>python3</c>.</summary>
    public string? LogsModelPath { get; init; }

    /// <summary>How many requests <see cref="SageMakerApiEmulator.RequestLog"/> keeps in full (counts are never dropped).</summary>
    public int RequestLogCapacity { get; init; } = 200_000;

    /// <summary>Fixed port (0: a free port is chosen).</summary>
    public int Port { get; init; }
}
