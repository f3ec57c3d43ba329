using System.Diagnostics.Metrics;
using Ferry.Operator.Runtime.Telemetry;

namespace Ferry.Operator.SageMaker;

/// <summary>SageMaker and CloudWatch Logs API calls on the operator's meter: <c>ferry_sagemaker_requests_total{operation,outcome}</c> and <c>ferry_cloudwatch_logs_requests_total</c>.</summary>
public static class SageMakerTelemetry
{
    /// <summary>The outcome of an answered call.</summary>
    public const string Success = "success";

    /// <summary>Every HTTP attempt, by operation (e.g. <c>DescribeTrainingJob</c>) and outcome (<c>success</c>, the error code, <c>timeout</c>, <c>network_error</c>, <c>cancelled</c>).</summary>
    public static Counter<long> Requests { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.sagemaker.requests", description: "SageMaker API requests sent, by operation and outcome.");

    /// <summary>CloudWatch Logs calls (the training jobs' logs), by operation and outcome: <c>ferry_cloudwatch_logs_requests_total</c>.</summary>
    public static Counter<long> LogsRequests { get; } = OperatorTelemetry.Meter.CreateCounter<long>(
        "ferry.cloudwatch.logs.requests", description: "CloudWatch Logs API requests sent, by operation and outcome.");
}
