using System.Net;

namespace Ferry.Operator.SageMaker;

/// <summary>An error answer from SageMaker (or CloudWatch Logs, for the jobs' logs): its error code, message, HTTP status and request id.</summary>
public class SageMakerException(string errorCode, string message, HttpStatusCode statusCode, string? requestId, Exception? inner = null)
    : Exception($"SageMaker {errorCode}: {message}", inner)
{
    /// <summary>The error code, e.g. <c>ValidationException</c> or <c>ThrottlingException</c>.</summary>
    public string ErrorCode { get; } = errorCode;

    /// <summary>SageMaker's message, as sent.</summary>
    public string ErrorMessage { get; } = message;

    /// <summary>The HTTP status of the answer.</summary>
    public HttpStatusCode StatusCode { get; } = statusCode;

    /// <summary>The <c>x-amzn-RequestId</c> to quote to AWS support.</summary>
    public string? RequestId { get; } = requestId;
}

/// <summary>A job with this name already exists (<c>ResourceInUse</c>).</summary>
public sealed class ResourceInUseException(string message, HttpStatusCode statusCode, string? requestId)
    : SageMakerException("ResourceInUse", message, statusCode, requestId);

/// <summary>The named job (or log stream) does not exist (<c>ResourceNotFound</c>, CloudWatch Logs' <c>ResourceNotFoundException</c>, or SageMaker's <c>ValidationException</c> "Requested resource not found").</summary>
public sealed class ResourceNotFoundException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : SageMakerException(errorCode, message, statusCode, requestId);

/// <summary>An account quota is exhausted, e.g. instances of a type or concurrent jobs (<c>ResourceLimitExceeded</c>).</summary>
public sealed class ResourceLimitExceededException(string message, HttpStatusCode statusCode, string? requestId)
    : SageMakerException("ResourceLimitExceeded", message, statusCode, requestId);

/// <summary>SageMaker refused the request as invalid (<c>ValidationException</c>); the message names the member.</summary>
public sealed class SageMakerValidationException(string message, HttpStatusCode statusCode, string? requestId)
    : SageMakerException("ValidationException", message, statusCode, requestId);

/// <summary>The caller may not do this, or its credentials or signature were refused (<c>AccessDeniedException</c> and kin).</summary>
public sealed class SageMakerAccessDeniedException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : SageMakerException(errorCode, message, statusCode, requestId);
