using System.ComponentModel;
using System.Globalization;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;
using k8s.Models;

namespace Ferry.Crds.V1Alpha1;

/// <summary>What the operator tells the user about a TrainingJob.</summary>
[Description("TrainingJobStatus is written by the operator: phase, conditions, metrics and artifact locations.")]
public sealed class TrainingJobStatus
{
    [JsonPropertyName("phase")]
    [Description("Phase summarises the job: Pending, Starting, Running, Succeeded, Failed, Stopping, Stopped or Suspended.")]
    public TrainingJobPhase? Phase { get; set; }

    [JsonPropertyName("observedGeneration")]
    [Minimum(0)]
    [Description("ObservedGeneration is the metadata.generation this status describes.")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("conditions")]
    [ListMap("type")]
    [Description("Conditions: Created, Running, Complete, Failed, Suspended, Stopped, the training rules', and kstatus's Ready, Reconciling and Stalled (for Flux and other GitOps health checks). `kubectl wait --for=condition=Complete` works as for a batch Job. Ordered by lastTransitionTime, newest last.")]
    public IList<V1Condition>? Conditions { get; set; }

    [JsonPropertyName("startTime")]
    [Description("StartTime is when the first replica started training.")]
    public DateTime? StartTime { get; set; }

    [JsonPropertyName("completionTime")]
    [Description("CompletionTime is when the job reached Succeeded, Failed or Stopped.")]
    public DateTime? CompletionTime { get; set; }

    [JsonPropertyName("duration")]
    [Description("Duration is the wall-clock time from startTime to completionTime, e.g. 3m12s, written when the job finishes (the API server cannot compute it for printer columns). Empty while running: the Started column shows how long ago it started.")]
    public string? Duration { get; set; }

    [JsonPropertyName("attempt")]
    [Minimum(0)]
    [Description("Attempt is the current attempt, 1 for the first run; each whole-job retry adds 1.")]
    public int? Attempt { get; set; }

    [JsonPropertyName("attemptStartTime")]
    [Description("AttemptStartTime is when the current attempt's replicas (or remote job) were first created; the start-up deadline counts from it.")]
    public DateTime? AttemptStartTime { get; set; }

    [JsonPropertyName("nextAttemptTime")]
    [Description("NextAttemptTime is the earliest time the next attempt starts after a failure (restart backoff: 10s, doubling, at most 5m by default).")]
    public DateTime? NextAttemptTime { get; set; }

    [JsonPropertyName("retries")]
    [Minimum(0)]
    [Description("Retries counts the restarts after a failed attempt, against spec.maxRetries.")]
    public int? Retries { get; set; }

    [JsonPropertyName("disruptions")]
    [Minimum(0)]
    [Description("Disruptions counts the attempts that ended because a replica was evicted, preempted or lost its spot node; they restart the job without using up spec.maxRetries (up to the operator's cap).")]
    public int? Disruptions { get; set; }

    [JsonPropertyName("replicas")]
    [Description("Replicas counts the current attempt's replicas by state.")]
    public ReplicaStatus? Replicas { get; set; }

    // Live metrics, their history, progress and the training rules that fired (one block).
    [JsonPropertyName("metrics")]
    [Description("Metrics are the latest value of each metric definition, updated while the job runs (at most every 30 s: rank 0's agent serves them, the operator polls it) and at the end.")]
    public IList<MetricValue>? Metrics { get; set; }

    [JsonPropertyName("metricHistory")]
    [Description("MetricHistory keeps the last values of each metric of rank 0 (at least 100, more when a rule's patience needs them), compactly encoded; the training rules read it and it survives an operator restart.")]
    public IList<MetricSeries>? MetricHistory { get; set; }

    [JsonPropertyName("metricSource")]
    [Description("MetricSource is how far the history has read rank 0's report: the reporting replica and the sequence number of its last value recorded.")]
    public MetricSourceStatus? MetricSource { get; set; }

    [JsonPropertyName("progress")]
    [Description("Progress is how far training is: percent done, estimated time remaining, current epoch and step, from the trainer's `progress epoch=E/N step=S/T` lines or the epoch metric with the epochs hyperparameter.")]
    public ProgressStatus? Progress { get; set; }

    [JsonPropertyName("ruleFirings")]
    [Items(Max = RuleFiringStatus.Kept)]
    [Description("RuleFirings lists the training rules that fired (spec.rules), one entry per rule and attempt, oldest first, at most 20.")]
    public IList<RuleFiringStatus>? RuleFirings { get; set; }
    // End of the live-metrics block.

    [JsonPropertyName("artifacts")]
    [Description("Artifacts are where the job's outputs are.")]
    public ArtifactsStatus? Artifacts { get; set; }

    [JsonPropertyName("failureReason")]
    [Length(Max = 1024)]
    [Description("FailureReason is the first 1024 bytes of /opt/ml/output/failure, or the backend's reason for the failure.")]
    public string? FailureReason { get; set; }

    [JsonPropertyName("attemptFailures")]
    [Items(Max = AttemptFailure.Kept)]
    [Description("AttemptFailures is the post-mortem of the last failed attempts (at most 3, oldest first), kept after the pods are gone: which replica failed first and which after it, exit codes and signals, OOM kills and disruptions, the failure file's text, the last lines of the failing replica's output (secrets masked) and where each replica's full log was copied.")]
    public IList<AttemptFailure>? AttemptFailures { get; set; }

    [JsonPropertyName("checkpoint")]
    [Description("Checkpoint is the latest complete checkpoint the replicas synced to spec.checkpoint.uri (reported when a replica ends); a restarted or resumed attempt starts from it.")]
    public CheckpointStatus? Checkpoint { get; set; }

    [JsonPropertyName("experiment")]
    [Description("Experiment echoes spec.experiment for lineage queries.")]
    public ExperimentSpec? Experiment { get; set; }

    // Lineage and the training report.
    [JsonPropertyName("lineage")]
    [Description("Lineage is what actually ran: image (and digest), hyperparameters, inputs as the agent saw them, the model's size and SHA-256, backend, attempts and times. The experiment and trial are also labels (ferry.dev/experiment, ferry.dev/trial), so `kubectl get tj -l ferry.dev/experiment=NAME` lists an experiment's trials.")]
    public LineageStatus? Lineage { get; set; }

    [JsonPropertyName("sageMaker")]
    [Description("SageMaker is the SageMaker training job's own state (backend SageMaker).")]
    public SageMakerStatus? SageMaker { get; set; }

    /// <summary>
    /// Formats a duration as kubectl does for its Duration and Age columns (e.g. <c>45s</c>, <c>3m12s</c>,
    /// <c>2h5m</c>, <c>3d4h</c>), for <see cref="Duration"/>.
    /// </summary>
    public static string FormatDuration(TimeSpan duration)
    {
        var seconds = (long)Math.Max(0, duration.TotalSeconds);
        var inv = CultureInfo.InvariantCulture;
        if (seconds < 60 * 2)
            return string.Create(inv, $"{seconds}s");
        var minutes = seconds / 60;
        if (minutes < 10)
            return seconds % 60 == 0 ? string.Create(inv, $"{minutes}m") : string.Create(inv, $"{minutes}m{seconds % 60}s");
        if (minutes < 60 * 3)
            return string.Create(inv, $"{minutes}m");
        var hours = minutes / 60;
        if (hours < 8)
            return minutes % 60 == 0 ? string.Create(inv, $"{hours}h") : string.Create(inv, $"{hours}h{minutes % 60}m");
        if (hours < 48)
            return string.Create(inv, $"{hours}h");
        if (hours < 24 * 8)
            return hours % 24 == 0 ? string.Create(inv, $"{hours / 24}d") : string.Create(inv, $"{hours / 24}d{hours % 24}h");
        if (hours < 24 * 365 * 2)
            return string.Create(inv, $"{hours / 24}d");
        if (hours < 24 * 365 * 8)
        {
            var days = hours / 24;
            return days % 365 == 0 ? string.Create(inv, $"{days / 365}y") : string.Create(inv, $"{days / 365}y{days % 365}d");
        }
        return string.Create(inv, $"{hours / 24 / 365}y");
    }
}

/// <summary>The summary state of a TrainingJob.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingJobPhase>))]
public enum TrainingJobPhase
{
    Pending,
    Starting,
    Running,
    Succeeded,
    Failed,
    Stopping,
    Stopped,
    Suspended,
}

/// <summary>Counts of the current attempt's replicas by state.</summary>
[Description("ReplicaStatus counts the current attempt's replicas by state.")]
public sealed class ReplicaStatus
{
    [JsonPropertyName("active")]
    [Minimum(0)]
    [Description("Active replicas (pending or running).")]
    public int Active { get; set; }

    [JsonPropertyName("succeeded")]
    [Minimum(0)]
    [Description("Succeeded replicas.")]
    public int Succeeded { get; set; }

    [JsonPropertyName("failed")]
    [Minimum(0)]
    [Description("Failed replicas.")]
    public int Failed { get; set; }
}

/// <summary>The latest value of one metric.</summary>
[Description("MetricValue is the latest value of one metric.")]
public sealed class MetricValue
{
    [JsonPropertyName("name")]
    [Required]
    [Description("Name of the metric definition.")]
    public string Name { get; set; } = "";

    [JsonPropertyName("value")]
    [Required]
    [Description("Value last seen. NaN and infinities cannot be written as JSON numbers: the NaN rule reports them instead.")]
    public double Value { get; set; }

    [JsonPropertyName("timestamp")]
    [Description("Timestamp of the log line the value came from.")]
    public DateTime? Timestamp { get; set; }

    [JsonPropertyName("step")]
    [Minimum(0)]
    [Description("Step the trainer was at when it printed the value (its `step=N`), when known.")]
    public long? Step { get; set; }

    [JsonPropertyName("epoch")]
    [Minimum(0)]
    [Description("Epoch the trainer was at when it printed the value (its `epoch=N`), when known.")]
    public long? Epoch { get; set; }
}

/// <summary>The recent values of one metric, compactly encoded.</summary>
[Description("MetricSeries is the recent values of one metric: `points` holds `offset:value` or `offset:value@step` entries separated by spaces, offset in whole seconds after `since`, oldest first (NaN, +Inf and -Inf spelled out).")]
public sealed class MetricSeries
{
    [JsonPropertyName("name")]
    [Required]
    [Description("Name of the metric definition.")]
    public string Name { get; set; } = "";

    [JsonPropertyName("since")]
    [Required]
    [Description("Since is the time of the oldest value kept; offsets count from it.")]
    public DateTime Since { get; set; }

    [JsonPropertyName("points")]
    [Required]
    [Description("Points: `offset:value[@step]` entries separated by spaces, oldest first, e.g. `0:2.302@100 31:1.874@200`.")]
    public string Points { get; set; } = "";
}

/// <summary>Which report of rank 0 the metric history has read up to.</summary>
[Description("MetricSourceStatus is how far the metric history has read rank 0's report.")]
public sealed class MetricSourceStatus
{
    [JsonPropertyName("replica")]
    [Required]
    [Description("Replica that reports: the rank-0 pod's uid (InCluster) or process (Local) of the current attempt.")]
    public string Replica { get; set; } = "";

    [JsonPropertyName("sequence")]
    [Minimum(0)]
    [Description("Sequence number of the last value recorded in the history.")]
    public long Sequence { get; set; }
}

/// <summary>How far training is.</summary>
[Description("ProgressStatus is how far training is.")]
public sealed class ProgressStatus
{
    [JsonPropertyName("percent")]
    [Minimum(0)]
    [Maximum(100)]
    [Description("Percent of the training done (whole number).")]
    public int? Percent { get; set; }

    [JsonPropertyName("eta")]
    [Description("Eta is the estimated time remaining, e.g. 4m10s, from the rate so far in this attempt.")]
    public string? Eta { get; set; }

    [JsonPropertyName("epoch")]
    [Minimum(0)]
    [Description("Epoch the trainer is in.")]
    public long? Epoch { get; set; }

    [JsonPropertyName("epochs")]
    [Minimum(0)]
    [Description("Epochs in total (the trainer's own count, else the epochs hyperparameter).")]
    public long? Epochs { get; set; }

    [JsonPropertyName("step")]
    [Minimum(0)]
    [Description("Step the trainer is at.")]
    public long? Step { get; set; }

    [JsonPropertyName("steps")]
    [Minimum(0)]
    [Description("Steps in total, when the trainer says.")]
    public long? Steps { get; set; }

    [JsonPropertyName("time")]
    [Description("Time the trainer reported this progress.")]
    public DateTime? Time { get; set; }
}

/// <summary>A training rule that fired.</summary>
[Description("RuleFiringStatus is a training rule that fired.")]
public sealed class RuleFiringStatus
{
    /// <summary>How many firings the status keeps.</summary>
    public const int Kept = 20;

    [JsonPropertyName("rule")]
    [Required]
    [Description("Rule is the rule's name (its type when unnamed).")]
    public string Rule { get; set; } = "";

    [JsonPropertyName("type")]
    [Description("Type of the rule.")]
    public TrainingRuleType? Type { get; set; }

    [JsonPropertyName("action")]
    [Description("Action taken: Stop, Restart or None.")]
    public RuleAction? Action { get; set; }

    [JsonPropertyName("attempt")]
    [Minimum(1)]
    [Description("Attempt the rule fired in.")]
    public int? Attempt { get; set; }

    [JsonPropertyName("time")]
    [Description("Time the operator saw the rule fire.")]
    public DateTime? Time { get; set; }

    [JsonPropertyName("evidence")]
    [Length(Max = 1024)]
    [Description("Evidence: the values and steps that made the rule fire.")]
    public string? Evidence { get; set; }
}

/// <summary>The post-mortem of one failed attempt.</summary>
[Description("AttemptFailure is the post-mortem of one failed attempt.")]
public sealed class AttemptFailure
{
    /// <summary>How many failed attempts the status keeps.</summary>
    public const int Kept = 3;

    /// <summary>How many replicas that failed after the first one are listed.</summary>
    public const int FailedAfterKept = 8;

    [JsonPropertyName("attempt")]
    [Required]
    [Minimum(1)]
    [Description("Attempt that failed.")]
    public int Attempt { get; set; }

    [JsonPropertyName("time")]
    [Description("Time the operator recorded the failure.")]
    public DateTime? Time { get; set; }

    [JsonPropertyName("replica")]
    [Minimum(0)]
    [Description("Replica is the index (rank) of the replica that failed first; absent when the attempt failed as a whole (e.g. it never started).")]
    public int? Replica { get; set; }

    [JsonPropertyName("pod")]
    [Description("Pod (or process) of the replica that failed first.")]
    public string? Pod { get; set; }

    [JsonPropertyName("node")]
    [Description("Node the failing replica ran on.")]
    public string? Node { get; set; }

    [JsonPropertyName("exitCode")]
    [Description("ExitCode of the failing replica's training process.")]
    public int? ExitCode { get; set; }

    [JsonPropertyName("signal")]
    [Description("Signal that ended the training process (exit code 128+n), e.g. SIGKILL or SIGSEGV.")]
    public string? Signal { get; set; }

    [JsonPropertyName("cause")]
    [Description("Cause in one word: Error, OOMKilled, Evicted, Preempted, Disrupted, Vanished or StartupTimeout.")]
    public string? Cause { get; set; }

    [JsonPropertyName("message")]
    [Length(Max = 1024)]
    [Description("Message is the failure file's text (/opt/ml/output/failure, first 1024 bytes) or the backend's reason.")]
    public string? Message { get; set; }

    [JsonPropertyName("logTail")]
    [Length(Max = 2048)]
    [Description("LogTail is the last lines of the failing replica's output (at most 20 lines and 2 KB, secrets masked).")]
    public string? LogTail { get; set; }

    [JsonPropertyName("logs")]
    [Description("Logs is where the full logs of every replica of this attempt were copied: <output.uri>/<job>/attempt-N/algo-K.log.")]
    public string? Logs { get; set; }

    [JsonPropertyName("failedAfter")]
    [Items(Max = FailedAfterKept)]
    [Description("FailedAfter lists the replicas that failed on their own after the first one, in order (the usual cascade of collective training); replicas the operator stopped are not listed. At most 8.")]
    public IList<ReplicaFailure>? FailedAfter { get; set; }
}

/// <summary>A replica that failed after the first one of its attempt.</summary>
[Description("ReplicaFailure is a replica that failed after the first one of its attempt.")]
public sealed class ReplicaFailure
{
    [JsonPropertyName("replica")]
    [Required]
    [Minimum(0)]
    [Description("Replica index (rank).")]
    public int Replica { get; set; }

    [JsonPropertyName("exitCode")]
    [Description("ExitCode of its training process.")]
    public int? ExitCode { get; set; }

    [JsonPropertyName("signal")]
    [Description("Signal that ended it, if any.")]
    public string? Signal { get; set; }

    [JsonPropertyName("cause")]
    [Description("Cause in one word (see AttemptFailure.cause).")]
    public string? Cause { get; set; }

    [JsonPropertyName("node")]
    [Description("Node it ran on.")]
    public string? Node { get; set; }
}

/// <summary>The latest complete checkpoint a job's replicas synced.</summary>
[Description("CheckpointStatus is the latest complete checkpoint synced to spec.checkpoint.uri.")]
public sealed class CheckpointStatus
{
    [JsonPropertyName("uri")]
    [Required]
    [Description("Uri of the checkpoint file, or of its directory (ending in /).")]
    public string Uri { get; set; } = "";

    [JsonPropertyName("size")]
    [Minimum(0)]
    [Description("Size in bytes (all files of a checkpoint directory).")]
    public long? Size { get; set; }

    [JsonPropertyName("savedAt")]
    [Description("SavedAt is when the trainer finished writing it.")]
    public DateTime? SavedAt { get; set; }

    [JsonPropertyName("step")]
    [Minimum(0)]
    [Description("Step the checkpoint was taken at, when its name says (step-4200, checkpoint-4200).")]
    public long? Step { get; set; }

    [JsonPropertyName("epoch")]
    [Minimum(0)]
    [Description("Epoch the checkpoint completes, when its name says (epoch-0003).")]
    public int? Epoch { get; set; }

    [JsonPropertyName("attempt")]
    [Minimum(1)]
    [Description("Attempt whose replica reported it.")]
    public int? Attempt { get; set; }
}

/// <summary>Where a job's outputs are.</summary>
[Description("ArtifactsStatus is where the job's outputs are.")]
public sealed class ArtifactsStatus
{
    [JsonPropertyName("model")]
    [Description("Model is the URI of model.tar.gz once uploaded.")]
    public string? Model { get; set; }

    [JsonPropertyName("checkpoints")]
    [Description("Checkpoints is the URI prefix of the checkpoints.")]
    public string? Checkpoints { get; set; }

    [JsonPropertyName("output")]
    [Description("Output is the URI prefix of /opt/ml/output/data.")]
    public string? Output { get; set; }

    [JsonPropertyName("report")]
    [Description("Report is the URI of report.html, the training report (metric curves, rules, lineage, timings) written beside model.tar.gz when the job ends.")]
    public string? Report { get; set; }
}

/// <summary>The SageMaker training job's own state.</summary>
[Description("SageMakerStatus is the SageMaker training job's own state, from DescribeTrainingJob.")]
public sealed class SageMakerStatus
{
    [JsonPropertyName("jobName")]
    [Description("JobName of the current attempt's SageMaker training job: <name>-<uid prefix>-<attempt>, at most 63 characters.")]
    public string? JobName { get; set; }

    [JsonPropertyName("arn")]
    [Description("Arn of the SageMaker training job.")]
    public string? Arn { get; set; }

    [JsonPropertyName("status")]
    [Description("Status as SageMaker reports it: InProgress, Completed, Failed, Stopping or Stopped.")]
    public string? Status { get; set; }

    [JsonPropertyName("secondaryStatus")]
    [Description("SecondaryStatus as SageMaker reports it, e.g. Downloading, Training, Uploading.")]
    public string? SecondaryStatus { get; set; }

    [JsonPropertyName("billableSeconds")]
    [Minimum(0)]
    [Description("BillableSeconds SageMaker charges for (less than the run time with spot).")]
    public long? BillableSeconds { get; set; }

    [JsonPropertyName("trainingSeconds")]
    [Minimum(0)]
    [Description("TrainingSeconds the instances ran (TrainingTimeInSeconds).")]
    public long? TrainingSeconds { get; set; }

    [JsonPropertyName("spotSavingsPercent")]
    [Minimum(0)]
    [Maximum(100)]
    [Description("SpotSavingsPercent is what managed spot saved: 100 x (1 - billable / training seconds), as the SageMaker console shows it.")]
    public int? SpotSavingsPercent { get; set; }

    [JsonPropertyName("failureReason")]
    [Description("FailureReason as SageMaker reports it.")]
    public string? FailureReason { get; set; }

    [JsonPropertyName("logsUrl")]
    [Description("LogsUrl opens the job's CloudWatch logs (log group /aws/sagemaker/TrainingJobs) in the AWS console.")]
    public string? LogsUrl { get; set; }

    [JsonPropertyName("transitionsReported")]
    [Minimum(0)]
    [Description("TransitionsReported is how many of the job's SecondaryStatusTransitions were recorded as Events, so none is recorded twice.")]
    public int? TransitionsReported { get; set; }
}
