using System.Text.Json;
using System.Text.Json.Nodes;
using Ferry.SageMakerEmulator.Diagnostics;
using Ferry.SageMakerEmulator.Faults;
using Ferry.SageMakerEmulator.Jobs;
using Ferry.SageMakerEmulator.Model;
using Ferry.SageMakerEmulator.Signing;
using Microsoft.AspNetCore.Http;

namespace Ferry.SageMakerEmulator.Http;

/// <summary>One service served at the endpoint: its model, signature checks and operations.</summary>
internal sealed record ServiceFront(ShapeValidator Validator, SigV4Verifier Verifier, IReadOnlyList<string> Operations, Func<string, JsonObject, JsonObject> Run);

/// <summary>
/// The JSON 1.1 front end: authenticate (SigV4), apply injected faults, validate the input against the service model,
/// run the operation, check the output against the model too, and answer in AWS's shapes. Requests go to the service
/// whose target prefix they name (<c>SageMaker.</c>, <c>Logs_20140328.</c>).
/// </summary>
internal sealed class SageMakerHandler(IReadOnlyList<ServiceFront> services, FaultInjector faults, RequestLog log, TimeProvider time)
{
    public const string ContentType = "application/x-amz-json-1.1";

    /// <summary>The SageMaker operations served.</summary>
    public static readonly IReadOnlyList<string> Operations = ["CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs", "ListTags"];

    /// <summary>The CloudWatch Logs operations served.</summary>
    public static readonly IReadOnlyList<string> LogsOperations = ["DescribeLogStreams", "GetLogEvents"];

    /// <summary>Responses that did not fit the service model's output shape (an emulator bug; tests assert none).</summary>
    public List<string> OutputViolations { get; } = [];

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();
        var target = request.Headers["X-Amz-Target"].ToString();
        var front = services.FirstOrDefault(f => target.StartsWith(f.Validator.Model.TargetPrefix + ".", StringComparison.Ordinal)) ?? services[0];
        var validator = front.Validator;
        var prefix = validator.Model.TargetPrefix + ".";
        var operation = target.StartsWith(prefix, StringComparison.Ordinal) ? target[prefix.Length..] : target.Length == 0 ? "(none)" : target;
        string? jobName = null;
        var credential = request.Headers.Authorization.ToString().Split("Credential=", 2) is [_, var rest] ? rest.Split('/', 2)[0] : null;
        var hadToken = request.Headers.ContainsKey("X-Amz-Security-Token");

        async Task Answer(int status, JsonNode payload, string? errorCode)
        {
            log.Add(new LoggedRequest(time.GetUtcNow(), operation, status, errorCode, jobName, credential, hadToken));
            context.Response.StatusCode = status;
            context.Response.ContentType = ContentType;
            context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
            if (errorCode is not null)
            {
                context.Response.Headers["x-amzn-ErrorType"] = errorCode;
            }

            await context.Response.WriteAsync(payload.ToJsonString(), context.RequestAborted);
        }

        Task Error(string code, string message, int status = 400) =>
            Answer(status, new JsonObject { ["__type"] = code, [MessageMember(validator, code)] = message }, code);

        if (request.Method != "POST" || request.Path != "/")
        {
            await Error("UnknownOperationException", "", 404);
            return;
        }

        if (front.Verifier.Verify(request, body) is { } refused)
        {
            await Error(refused.Code, refused.Message, refused.Status);
            return;
        }

        if (!target.StartsWith(prefix, StringComparison.Ordinal) || validator.Model.InputShape(operation) is not { } inputShape)
        {
            await Error("UnknownOperationException", target.Length == 0 ? "Missing X-Amz-Target header" : $"Unknown operation {target}");
            return;
        }

        if (!front.Operations.Contains(operation))
        {
            await Error("UnknownOperationException", $"{operation} is an operation of {validator.Model.TargetPrefix} this emulator does not serve");
            return;
        }

        if (!request.ContentType?.StartsWith(ContentType, StringComparison.Ordinal) ?? true)
        {
            await Error("SerializationException", $"Content-Type must be {ContentType}, not '{request.ContentType}'");
            return;
        }

        if (faults.Latency > TimeSpan.Zero)
        {
            await Task.Delay(faults.Latency, context.RequestAborted);
        }

        if (faults.Decide(operation) is { } fault)
        {
            await Error(fault.Code, fault.Message, fault.Status);
            return;
        }

        JsonObject input;
        try
        {
            using var document = JsonDocument.Parse(body.Length == 0 ? "{}"u8.ToArray() : body);
            var result = validator.Validate(inputShape, document.RootElement);
            if (result.TypeErrors.Count > 0)
            {
                await Error("SerializationException", result.TypeErrors[0]);
                return;
            }

            if (result.Violations.Count > 0)
            {
                await Error("ValidationException", result.ValidationMessage);
                return;
            }

            input = JsonNode.Parse(document.RootElement.GetRawText())!.AsObject();
        }
        catch (JsonException e)
        {
            await Error("SerializationException", $"The request body is not JSON: {e.Message}");
            return;
        }

        // A log stream's name (or a name prefix) starts with its training job's name.
        jobName = (string?)input["TrainingJobName"] ?? JobOfStream((string?)input["logStreamName"] ?? (string?)input["logStreamNamePrefix"]);
        JsonObject output;
        try
        {
            output = front.Run(operation, input);
        }
        catch (ServiceError e)
        {
            await Error(e.Code, e.Message, e.Status);
            return;
        }

        if (validator.Model.OutputShape(operation) is { } outputShape)
        {
            using var produced = JsonDocument.Parse(output.ToJsonString());
            var check = validator.Validate(outputShape, produced.RootElement);
            if (!check.IsValid)
            {
                lock (OutputViolations)
                {
                    OutputViolations.Add($"{operation}: {string.Join("; ", check.TypeErrors.Concat(check.Violations))}");
                }
            }
        }

        if (operation == "CreateTrainingJob" && faults.TakeLostCreate() is { } lost)
        {
            if (lost == LostResponse.Abort)
            {
                log.Add(new LoggedRequest(time.GetUtcNow(), operation, 0, "ConnectionAborted", jobName, credential, hadToken));
                context.Abort();
                return;
            }

            await Error("InternalFailure", "The request processing has failed because of an unknown error, exception or failure.", 500);
            return;
        }

        await Answer(200, output, null);
    }

    /// <summary>SageMaker's operations on the simulated jobs.</summary>
    public static JsonObject RunSageMaker(SimulatedTrainingJobs jobs, string operation, JsonObject input) => operation switch
    {
        "CreateTrainingJob" => jobs.Create(input),
        "DescribeTrainingJob" => jobs.Describe((string)input["TrainingJobName"]!),
        "StopTrainingJob" => Stop(jobs, (string)input["TrainingJobName"]!),
        "ListTrainingJobs" => jobs.List(input),
        "ListTags" => jobs.ListTags((string)input["ResourceArn"]!),
        _ => throw new InvalidOperationException(operation),
    };

    private static string? JobOfStream(string? stream) =>
        stream?.IndexOf('/', StringComparison.Ordinal) is > 0 and var slash ? stream[..slash] : null;

    /// <summary>CloudWatch Logs' operations on the simulated jobs' logs.</summary>
    public static JsonObject RunLogs(SimulatedTrainingJobs jobs, string operation, JsonObject input) => operation switch
    {
        "DescribeLogStreams" => jobs.DescribeLogStreams(input),
        "GetLogEvents" => jobs.GetLogEvents(input),
        _ => throw new InvalidOperationException(operation),
    };

    private static JsonObject Stop(SimulatedTrainingJobs jobs, string name)
    {
        jobs.Stop(name);
        return [];
    }

    // Modelled errors carry their member "Message" (SageMaker) or "message" (CloudWatch Logs); the front end's own errors use "message".
    private static string MessageMember(ShapeValidator validator, string code) =>
        validator.Model.Shapes[code]?["members"]?["Message"] is not null ? "Message" : "message";
}
