using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Ferry.SageMakerEmulator.Jobs;

/// <summary>An error answer of the simulated service (code, message, HTTP status).</summary>
public sealed class ServiceError(string code, string message, int status = 400) : Exception(message)
{
    public string Code { get; } = code;
    public int Status { get; } = status;
}

/// <summary>
/// SageMaker's training jobs, simulated on a clock: each job follows its <see cref="JobScript"/> through the secondary
/// statuses (Starting → Downloading → Training → Uploading → Completed, or Failed, Interrupted on spot, MaxRuntimeExceeded,
/// MaxWaitTimeExceeded, Stopping → Stopped), computed from the time at every read so any clock speed works.
/// </summary>
public sealed class SimulatedTrainingJobs(TimeProvider time, string region, string account, JobScriptBook scripts)
{
    private const int DefaultMaxRuntime = 86_400;
    private static readonly string[] EchoedMembers =
    [
        "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig", "VpcConfig",
        "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
        "ExperimentConfig", "Environment", "RetryStrategy", "DebugHookConfig", "TensorBoardOutputConfig", "ProfilerConfig",
    ];

    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly object _lock = new();

    private sealed record Step(string Status, TimeSpan At, string Message);

    private sealed class Job(string name, string arn, DateTimeOffset created, JsonObject request, List<Step> plan, bool spot, double spotFraction, IReadOnlyDictionary<string, double> metrics, string failureReason, TimeSpan stopping)
    {
        public IReadOnlyList<LogLine> LogLines { get; init; } = [];
        public string Name { get; } = name;
        public string Arn { get; } = arn;
        public DateTimeOffset Created { get; } = created;
        public JsonObject Request { get; } = request;
        public List<Step> Plan { get; set; } = plan;
        public bool Spot { get; } = spot;
        public double SpotFraction { get; } = spotFraction;
        public IReadOnlyDictionary<string, double> Metrics { get; } = metrics;
        public string FailureReason { get; } = failureReason;
        public TimeSpan Stopping { get; } = stopping;
    }

    /// <summary>How many jobs exist.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _jobs.Count;
            }
        }
    }

    /// <summary>The names of all jobs, in creation order.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_lock)
            {
                return [.. _jobs.Values.OrderBy(j => j.Created).Select(j => j.Name)];
            }
        }
    }

    /// <summary>The ARN of a job name in this emulated account and region.</summary>
    public string ArnOf(string name) => $"arn:aws:sagemaker:{region}:{account}:training-job/{name.ToLowerInvariant()}";

    /// <summary>CreateTrainingJob.</summary>
    public JsonObject Create(JsonObject request)
    {
        var name = (string)request["TrainingJobName"]!;
        var arn = ArnOf(name);
        lock (_lock)
        {
            // Names are unique per account and region, case-insensitively, forever.
            if (_jobs.ContainsKey(name.ToLowerInvariant()))
            {
                throw new ServiceError("ResourceInUse", $"Training job names must be unique within an AWS account and region, and a training job with this name already exists ({arn})");
            }

            var script = scripts.For(name);
            var spot = (bool?)request["EnableManagedSpotTraining"] ?? false;
            if (spot && request["StoppingCondition"]?["MaxWaitTimeInSeconds"] is null)
            {
                throw new ServiceError("ValidationException", "Invalid MaxWaitTimeInSeconds. It is required for managed spot training.");
            }

            var maxRuntime = (int?)request["StoppingCondition"]?["MaxRuntimeInSeconds"] ?? DefaultMaxRuntime;
            var maxWait = spot ? (int?)request["StoppingCondition"]?["MaxWaitTimeInSeconds"] : null;
            if (maxWait is { } wait && wait < maxRuntime)
            {
                throw new ServiceError("ValidationException", $"Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to MaxRuntimeInSeconds");
            }

            var job = new Job(name, arn, time.GetUtcNow(), (JsonObject)request.DeepClone(), Plan(script, spot, maxRuntime, maxWait), spot,
                script.SpotBillableFraction, script.FinalMetrics, script.FailureReason, script.Stopping) { LogLines = script.LogLines };
            _jobs[name.ToLowerInvariant()] = job;
            return new JsonObject { ["TrainingJobArn"] = arn };
        }
    }

    /// <summary>DescribeTrainingJob.</summary>
    public JsonObject Describe(string name)
    {
        lock (_lock)
        {
            return Render(Find(name), time.GetUtcNow());
        }
    }

    /// <summary>StopTrainingJob: an in-progress job goes Stopping, then Stopped; any other state is a ValidationException.</summary>
    public void Stop(string name)
    {
        lock (_lock)
        {
            var job = Find(name);
            var now = time.GetUtcNow();
            var offset = now - job.Created;
            var visible = job.Plan.Where(s => s.At <= offset).ToList();
            var status = PrimaryStatus(visible[^1].Status);
            if (status != "InProgress")
            {
                throw new ServiceError("ValidationException", $"The request was rejected because the training job is in status {status}.");
            }

            visible.Add(new Step("Stopping", offset, "Stopping the training job"));
            visible.Add(new Step("Stopped", offset + job.Stopping, "Training job stopped"));
            job.Plan = visible;
        }
    }

    /// <summary>ListTrainingJobs, with its filters, sorting and paging.</summary>
    public JsonObject List(JsonObject request)
    {
        var now = time.GetUtcNow();
        List<JsonObject> summaries;
        lock (_lock)
        {
            summaries = [.. _jobs.Values.Select(j => Render(j, now))];
        }

        IEnumerable<JsonObject> selected = summaries;
        if ((string?)request["NameContains"] is { } contains)
        {
            selected = selected.Where(s => ((string)s["TrainingJobName"]!).Contains(contains, StringComparison.OrdinalIgnoreCase));
        }

        if ((string?)request["StatusEquals"] is { } statusEquals)
        {
            selected = selected.Where(s => (string?)s["TrainingJobStatus"] == statusEquals);
        }

        selected = Window(selected, "CreationTime", request["CreationTimeAfter"], request["CreationTimeBefore"]);
        selected = Window(selected, "LastModifiedTime", request["LastModifiedTimeAfter"], request["LastModifiedTimeBefore"]);
        var sortBy = (string?)request["SortBy"] ?? "CreationTime";
        var descending = ((string?)request["SortOrder"] ?? "Descending") == "Descending";
        Func<JsonObject, IComparable> key = sortBy switch
        {
            "Name" => s => (string)s["TrainingJobName"]!,
            "Status" => s => (string)s["TrainingJobStatus"]!,
            _ => s => (decimal)s["CreationTime"]!,
        };
        var ordered = (descending ? selected.OrderByDescending(key) : selected.OrderBy(key)).ThenBy(s => (string)s["TrainingJobName"]!, StringComparer.Ordinal).ToList();
        var start = 0;
        if ((string?)request["NextToken"] is { Length: > 0 } token)
        {
            try
            {
                start = int.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(token)), CultureInfo.InvariantCulture);
            }
            catch (FormatException)
            {
                throw new ServiceError("ValidationException", "Invalid pagination token.");
            }
        }

        var size = (int?)request["MaxResults"] ?? 10;
        var page = ordered.Skip(start).Take(size).Select(s => (JsonNode)new JsonObject
        {
            ["TrainingJobName"] = s["TrainingJobName"]!.DeepClone(),
            ["TrainingJobArn"] = s["TrainingJobArn"]!.DeepClone(),
            ["CreationTime"] = s["CreationTime"]!.DeepClone(),
            ["TrainingEndTime"] = s["TrainingEndTime"]?.DeepClone(),
            ["LastModifiedTime"] = s["LastModifiedTime"]!.DeepClone(),
            ["TrainingJobStatus"] = s["TrainingJobStatus"]!.DeepClone(),
            ["SecondaryStatus"] = s["SecondaryStatus"]!.DeepClone(),
        }).ToArray();
        foreach (var summary in page.Cast<JsonObject>().Where(s => s["TrainingEndTime"] is null).ToList())
        {
            summary.Remove("TrainingEndTime");
        }

        var response = new JsonObject { ["TrainingJobSummaries"] = new JsonArray(page) };
        if (start + size < ordered.Count)
        {
            response["NextToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes((start + size).ToString(CultureInfo.InvariantCulture)));
        }

        return response;
    }

    /// <summary>ListTags of a training job's ARN.</summary>
    public JsonObject ListTags(string arn)
    {
        lock (_lock)
        {
            var job = _jobs.Values.FirstOrDefault(j => j.Arn == arn)
                ?? throw new ServiceError("ValidationException", $"Requested resource not found: {arn}");
            return new JsonObject { ["Tags"] = job.Request["Tags"]?.DeepClone() ?? new JsonArray() };
        }
    }

    /// <summary>The log group SageMaker writes training jobs' output to.</summary>
    public const string LogGroup = "/aws/sagemaker/TrainingJobs";

    /// <summary>CloudWatch Logs DescribeLogStreams: one stream per instance of every job that reached Training.</summary>
    public JsonObject DescribeLogStreams(JsonObject request)
    {
        RequireGroup((string?)request["logGroupName"] ?? (string?)request["logGroupIdentifier"]);
        var prefix = (string?)request["logStreamNamePrefix"] ?? "";
        var now = time.GetUtcNow();
        List<JsonObject> streams;
        lock (_lock)
        {
            streams = [.. JobsOfStream(prefix).OrderBy(j => j.Created).SelectMany(j => Streams(j, now))
                .Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(s =>
                {
                    var stream = new JsonObject { ["logStreamName"] = s.Name, ["creationTime"] = s.Created.ToUnixTimeMilliseconds(), ["arn"] = $"arn:aws:logs:{region}:{account}:log-group:{LogGroup}:log-stream:{s.Name}", ["storedBytes"] = 0 };
                    if (s.Events.Count > 0)
                    {
                        stream["firstEventTimestamp"] = s.Events[0].Time.ToUnixTimeMilliseconds();
                        stream["lastEventTimestamp"] = s.Events[^1].Time.ToUnixTimeMilliseconds();
                        stream["lastIngestionTime"] = s.Events[^1].Time.ToUnixTimeMilliseconds();
                    }

                    return stream;
                })];
        }

        if (((string?)request["orderBy"]) == "LastEventTime")
        {
            streams = [.. streams.OrderBy(s => (long?)s["lastEventTimestamp"] ?? 0)];
        }

        if ((bool?)request["descending"] == true)
        {
            streams.Reverse();
        }

        var start = (string?)request["nextToken"] is { } token ? int.Parse(token, CultureInfo.InvariantCulture) : 0;
        var limit = (int?)request["limit"] ?? 50;
        var response = new JsonObject { ["logStreams"] = new JsonArray([.. streams.Skip(start).Take(limit)]) };
        if (start + limit < streams.Count)
        {
            response["nextToken"] = (start + limit).ToString(CultureInfo.InvariantCulture);
        }

        return response;
    }

    /// <summary>CloudWatch Logs GetLogEvents, with forward (<c>f/n</c>) and backward (<c>b/n</c>) tokens as CloudWatch pages them.</summary>
    public JsonObject GetLogEvents(JsonObject request)
    {
        RequireGroup((string?)request["logGroupName"] ?? (string?)request["logGroupIdentifier"]);
        var name = (string)request["logStreamName"]!;
        var now = time.GetUtcNow();
        List<(DateTimeOffset Time, string Message)> events;
        lock (_lock)
        {
            var matches = JobsOfStream(name).SelectMany(j => Streams(j, now)).Where(s => s.Name == name).Take(1).ToList();
            if (matches.Count == 0)
            {
                throw new ServiceError("ResourceNotFoundException", "The specified log stream does not exist.");
            }

            events = [.. matches[0].Events];
        }

        if ((long?)request["startTime"] is { } from)
        {
            events = [.. events.Where(e => e.Time.ToUnixTimeMilliseconds() >= from)];
        }

        if ((long?)request["endTime"] is { } to)
        {
            events = [.. events.Where(e => e.Time.ToUnixTimeMilliseconds() < to)];
        }

        var limit = (int?)request["limit"] ?? 10_000;
        int first, last;
        switch ((string?)request["nextToken"])
        {
            case { } forward when forward.StartsWith("f/", StringComparison.Ordinal) && int.TryParse(forward[2..], CultureInfo.InvariantCulture, out var after):
                first = Math.Min(after, events.Count);
                last = Math.Min(events.Count, first + limit);
                break;
            case { } backward when backward.StartsWith("b/", StringComparison.Ordinal) && int.TryParse(backward[2..], CultureInfo.InvariantCulture, out var before):
                last = Math.Min(before, events.Count);
                first = Math.Max(0, last - limit);
                break;
            case { } invalid:
                throw new ServiceError("InvalidParameterException", $"The specified nextToken is invalid: {invalid}");
            default:
                (first, last) = (bool?)request["startFromHead"] == true
                    ? (0, Math.Min(events.Count, limit))
                    : (Math.Max(0, events.Count - limit), events.Count);
                break;
        }

        return new JsonObject
        {
            ["events"] = new JsonArray([.. events.Skip(first).Take(last - first).Select(e => (JsonNode)new JsonObject
            {
                ["timestamp"] = e.Time.ToUnixTimeMilliseconds(),
                ["message"] = e.Message,
                ["ingestionTime"] = e.Time.ToUnixTimeMilliseconds(),
            })]),
            ["nextForwardToken"] = $"f/{last}",
            ["nextBackwardToken"] = $"b/{first}",
        };
    }

    // A stream name (or a prefix up to the '/') names its job: only that job's streams are computed.
    private IEnumerable<Job> JobsOfStream(string nameOrPrefix)
    {
        var slash = nameOrPrefix.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return _jobs.Values;
        }

        return _jobs.TryGetValue(nameOrPrefix[..slash].ToLowerInvariant(), out var job) && job.Name == nameOrPrefix[..slash] ? [job] : [];
    }

    private static void RequireGroup(string? group)
    {
        if (group != LogGroup)
        {
            throw new ServiceError("ResourceNotFoundException", "The specified log group does not exist.");
        }
    }

    // SageMaker opens one stream per instance, <job>/algo-<n>-<epoch seconds>, when the container starts training.
    private static IEnumerable<(string Name, DateTimeOffset Created, List<(DateTimeOffset Time, string Message)> Events)> Streams(Job job, DateTimeOffset now)
    {
        var offset = now - job.Created;
        var visible = job.Plan.Where(s => s.At <= offset).ToList();
        if (visible.FirstOrDefault(s => s.Status == "Training") is not { } training)
        {
            yield break;
        }

        var started = job.Created + training.At;
        var ended = visible[^1].Status is "Completed" or "Failed" or "Stopped" or "MaxRuntimeExceeded" or "MaxWaitTimeExceeded" or "Stopping"
            ? job.Created + visible[^1].At
            : now;
        var events = job.LogLines
            .Select(l => (Time: started + l.AfterTraining, l.Message, l.Host))
            .Where(e => e.Time <= now && e.Time <= ended)
            .ToList();
        var instances = (int?)job.Request["ResourceConfig"]?["InstanceCount"] ?? 1;
        for (var i = 1; i <= instances; i++)
        {
            var host = i;
            yield return ($"{job.Name}/algo-{i}-{started.ToUnixTimeSeconds()}", started, [.. events.Where(e => e.Host is null || e.Host == host).Select(e => (e.Time, e.Message))]);
        }
    }

    private Job Find(string name)
    {
        // SageMaker answers an unknown training job with a ValidationException, not ResourceNotFound.
        return _jobs.TryGetValue(name.ToLowerInvariant(), out var job) ? job : throw new ServiceError("ValidationException", "Requested resource not found.");
    }

    private static List<Step> Plan(JobScript script, bool spot, int maxRuntimeSeconds, int? maxWaitSeconds)
    {
        var steps = new List<Step>();
        var t = TimeSpan.Zero;
        var trained = TimeSpan.Zero;
        var maxRuntime = TimeSpan.FromSeconds(maxRuntimeSeconds);
        TimeSpan? maxWait = maxWaitSeconds is { } w ? TimeSpan.FromSeconds(w) : null;
        var ended = false;

        void Run(string status, TimeSpan duration, string message, bool training = false)
        {
            if (ended)
            {
                return;
            }

            steps.Add(new Step(status, t, message));
            string? end = null;
            if (training && trained + duration > maxRuntime)
            {
                duration = maxRuntime - trained;
                end = "MaxRuntimeExceeded";
            }

            if (maxWait is { } limit && t + duration > limit)
            {
                duration = limit - t;
                end = "MaxWaitTimeExceeded";
            }

            t += duration;
            if (training)
            {
                trained += duration;
            }

            if (end is not null)
            {
                steps.Add(new Step(end, t, end == "MaxRuntimeExceeded"
                    ? $"Training job stopped: it ran longer than MaxRuntimeInSeconds ({maxRuntimeSeconds} s)"
                    : $"Training job stopped: it waited and ran longer than MaxWaitTimeInSeconds ({maxWaitSeconds} s)"));
                ended = true;
            }
        }

        Run("Starting", script.Starting, "Preparing the instances for training");
        Run("Downloading", script.Downloading, "Downloading input data");
        var done = TimeSpan.Zero;
        var interruptions = spot ? script.SpotInterruptions.Where(i => i.AfterTraining < script.Training).OrderBy(i => i.AfterTraining).ToList() : [];
        foreach (var interruption in interruptions)
        {
            Run("Training", interruption.AfterTraining - done, "Training image download completed. Training in progress.", training: true);
            done = interruption.AfterTraining;
            Run("Interrupted", interruption.Wait, "Training job interrupted: the spot instances were reclaimed; waiting for capacity");
            Run("Starting", script.Starting, "Preparing the instances for training");
            Run("Downloading", script.Downloading, "Downloading input data");
        }

        Run("Training", script.Training - done, "Training image download completed. Training in progress.", training: true);
        if (script.Outcome == JobOutcome.Failed)
        {
            if (!ended)
            {
                steps.Add(new Step("Failed", t, "Training job failed"));
            }

            return steps;
        }

        Run("Uploading", script.Uploading, "Uploading generated training model");
        if (!ended)
        {
            steps.Add(new Step("Completed", t, "Training job completed"));
        }

        return steps;
    }

    private static string PrimaryStatus(string secondary) => secondary switch
    {
        "Completed" => "Completed",
        "Failed" => "Failed",
        "Stopping" => "Stopping",
        "Stopped" or "MaxRuntimeExceeded" or "MaxWaitTimeExceeded" => "Stopped",
        _ => "InProgress",
    };

    private JsonObject Render(Job job, DateTimeOffset now)
    {
        var offset = now - job.Created;
        var visible = job.Plan.Where(s => s.At <= offset).ToList();
        var current = visible[^1];
        var status = PrimaryStatus(current.Status);
        var terminal = status is "Completed" or "Failed" or "Stopped";
        var response = new JsonObject
        {
            ["TrainingJobName"] = job.Name,
            ["TrainingJobArn"] = job.Arn,
            ["ModelArtifacts"] = new JsonObject { ["S3ModelArtifacts"] = $"{((string)job.Request["OutputDataConfig"]!["S3OutputPath"]!).TrimEnd('/')}/{job.Name}/output/model.tar.gz" },
            ["TrainingJobStatus"] = status,
            ["SecondaryStatus"] = current.Status,
            ["CreationTime"] = Epoch(job.Created),
            ["LastModifiedTime"] = Epoch(job.Created + current.At),
            ["StoppingCondition"] = job.Request["StoppingCondition"]?.DeepClone() ?? new JsonObject { ["MaxRuntimeInSeconds"] = DefaultMaxRuntime },
        };
        foreach (var member in EchoedMembers)
        {
            if (job.Request[member] is { } value)
            {
                response[member] = value.DeepClone();
            }
        }

        var transitions = new JsonArray();
        for (var i = 0; i < visible.Count; i++)
        {
            var step = visible[i];
            var transition = new JsonObject { ["Status"] = step.Status, ["StartTime"] = Epoch(job.Created + step.At), ["StatusMessage"] = step.Message };
            if (i + 1 < visible.Count)
            {
                transition["EndTime"] = Epoch(job.Created + visible[i + 1].At);
            }
            else if (terminal)
            {
                transition["EndTime"] = Epoch(job.Created + step.At);
            }

            transitions.Add(transition);
        }

        response["SecondaryStatusTransitions"] = transitions;
        var trainingStart = visible.FirstOrDefault(s => s.Status == "Downloading");
        if (trainingStart is not null)
        {
            response["TrainingStartTime"] = Epoch(job.Created + trainingStart.At);
        }

        if (!terminal)
        {
            return response;
        }

        var end = job.Created + current.At;
        response["TrainingEndTime"] = Epoch(end);
        var startedAt = trainingStart?.At ?? TimeSpan.Zero;
        response["TrainingTimeInSeconds"] = Math.Max(1, (int)Math.Ceiling((current.At - startedAt).TotalSeconds));
        var billed = TimeSpan.Zero;
        for (var i = 0; i + 1 < visible.Count; i++)
        {
            if (visible[i].Status is "Downloading" or "Training" or "Uploading" or "Stopping")
            {
                billed += visible[i + 1].At - visible[i].At;
            }
        }

        var billable = job.Spot ? billed.TotalSeconds * job.SpotFraction : billed.TotalSeconds;
        response["BillableTimeInSeconds"] = Math.Max(1, (int)Math.Ceiling(billable));
        if (status == "Failed")
        {
            response["FailureReason"] = job.FailureReason;
        }

        if (job.Metrics.Count > 0 && visible.Any(s => s.Status == "Training"))
        {
            response["FinalMetricDataList"] = new JsonArray([.. job.Metrics.Select(m => (JsonNode)new JsonObject
            {
                ["MetricName"] = m.Key,
                ["Value"] = m.Value,
                ["Timestamp"] = Epoch(end),
            })]);
        }

        return response;
    }

    private static IEnumerable<JsonObject> Window(IEnumerable<JsonObject> items, string member, JsonNode? after, JsonNode? before)
    {
        if (after is not null)
        {
            var limit = Seconds(after);
            items = items.Where(s => (decimal)s[member]! > limit);
        }

        if (before is not null)
        {
            var limit = Seconds(before);
            items = items.Where(s => (decimal)s[member]! < limit);
        }

        return items;
    }

    private static decimal Seconds(JsonNode node) => node.GetValueKind() == System.Text.Json.JsonValueKind.String
        ? Epoch(DateTimeOffset.Parse((string)node!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal))
        : (decimal)node;

    /// <summary>JSON 1.1 timestamps: epoch seconds with milliseconds.</summary>
    public static decimal Epoch(DateTimeOffset time) => (time.ToUnixTimeMilliseconds()) / 1000m;
}
