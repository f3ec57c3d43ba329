using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;

namespace Ferry.Crds.V1Alpha1;

/// <summary>A metric read from the training log: the last match of <see cref="Regex"/>'s one capture group.</summary>
[Description("MetricDefinition extracts a metric from the training log: the regex's single capture group is parsed as a float; the last value wins.")]
public sealed class MetricDefinition
{
    [JsonPropertyName("name")]
    [Required]
    [Length(Min = 1, Max = 255)]
    [Description("Name of the metric, e.g. train_loss (1-255 characters).")]
    public string Name { get; set; } = "";

    [JsonPropertyName("regex")]
    [Required]
    [Length(Min = 1, Max = 500)]
    [Description("Regex matched against each log line, with exactly one capture group holding the value, e.g. train_loss=([-+0-9.eE]+|nan) (1-500 characters).")]
    public string Regex { get; set; } = "";

    /// <summary>
    /// The definitions used when a job declares none. They match the trainer's log lines, e.g.
    /// <c>epoch=2 step=900 train_loss=0.4123 val_loss=0.4410 val_accuracy=0.8512</c>; <c>nan</c> is
    /// captured too so the NaN rule can see it. Each call returns fresh objects.
    /// </summary>
    public static IReadOnlyList<MetricDefinition> Defaults =>
    [
        new() { Name = "train_loss", Regex = @"\btrain_loss=([-+0-9.eE]+|nan|NaN)" },
        new() { Name = "val_loss", Regex = @"\bval_loss=([-+0-9.eE]+|nan|NaN)" },
        new() { Name = "val_accuracy", Regex = @"\bval_accuracy=([-+0-9.eE]+|nan|NaN)" },
        // Not the `progress epoch=E/N` lines: those are progress, and counting them would record each epoch twice.
        new() { Name = "epoch", Regex = @"\bepoch=([0-9]+)(?:[^0-9/]|$)" },
    ];
}

/// <summary>A training-health rule evaluated on the job's metrics while it runs.</summary>
[Description("TrainingRule watches a metric while the job runs and, when it fires, records a condition and (with action Stop) stops the job.")]
public sealed class TrainingRule
{
    [JsonPropertyName("name")]
    [Length(Min = 1, Max = 63)]
    [Pattern(@"^[A-Za-z0-9][A-Za-z0-9.\-_]*$")]
    [Description("Name used in the condition and events; defaults to the rule type.")]
    public string? Name { get; set; }

    [JsonPropertyName("type")]
    [Required]
    [Description("Type: LossNotDecreasing (the metric has not improved by more than threshold for patience updates), NaN (the metric is NaN or infinite), Overfit (validationMetric rose by more than threshold while metric fell, for patience evaluations), MetricThreshold (the metric crossed value in the direction of comparison), Hang (the metric has not been updated for seconds while the replicas run), StartDeadline (no update of the metric within seconds of the replicas starting).")]
    public TrainingRuleType Type { get; set; }

    [JsonPropertyName("metric")]
    [Default("train_loss")]
    [Length(Min = 1, Max = 255)]
    [Description("Metric the rule watches, by metric definition name (default train_loss).")]
    public string Metric { get; set; } = "train_loss";

    [JsonPropertyName("validationMetric")]
    [Default("val_loss")]
    [Length(Min = 1, Max = 255)]
    [Description("ValidationMetric is the held-out counterpart of metric, used by Overfit (default val_loss).")]
    public string ValidationMetric { get; set; } = "val_loss";

    [JsonPropertyName("patience")]
    [Default(3)]
    [Minimum(1)]
    [Maximum(1000)]
    [Description("Patience is how many consecutive metric updates must show the problem before the rule fires (1-1000, default 3).")]
    public int Patience { get; set; } = 3;

    [JsonPropertyName("threshold")]
    [Default(0)]
    [Minimum(0)]
    [Description("Threshold is the smallest change that counts as an improvement (LossNotDecreasing) or a rise (Overfit); default 0.")]
    public double Threshold { get; set; }

    [JsonPropertyName("value")]
    [Description("Value the metric must cross for MetricThreshold (required by that type).")]
    public double? Value { get; set; }

    [JsonPropertyName("comparison")]
    [Description("Comparison for MetricThreshold: GreaterThan (fires when the metric rises above value, e.g. an accuracy target) or LessThan (fires when it falls below, e.g. a loss target). Required by that type.")]
    public RuleComparison? Comparison { get; set; }

    [JsonPropertyName("seconds")]
    [Minimum(1)]
    [Maximum(604800)]
    [Description("Seconds for Hang (longest silence of the metric while the replicas run) and StartDeadline (longest wait for its first update after the replicas start); required by those types (1-604800).")]
    public int? Seconds { get; set; }

    [JsonPropertyName("action")]
    [Default("Stop")]
    [Description("Action when the rule fires: Stop (stop the job; it ends Stopped with the rule as reason, the default), Restart (end the attempt and start the next from the last checkpoint, counted against maxRetries) or None (only record the condition and an event).")]
    public RuleAction Action { get; set; } = RuleAction.Stop;
}

/// <summary>The kinds of training-health rule.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingRuleType>))]
public enum TrainingRuleType
{
    LossNotDecreasing,
    NaN,
    Overfit,
    MetricThreshold,
    Hang,
    StartDeadline,
}

/// <summary>The direction a MetricThreshold rule watches.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RuleComparison>))]
public enum RuleComparison
{
    GreaterThan,
    LessThan,
}

/// <summary>What happens when a training rule fires.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RuleAction>))]
public enum RuleAction
{
    Stop,
    None,
    Restart,
}

/// <summary>Lineage labels: SageMaker ExperimentConfig and status.</summary>
[Description("ExperimentSpec names the experiment and trial the job belongs to; carried to SageMaker's ExperimentConfig.")]
public sealed class ExperimentSpec
{
    /// <summary>SageMaker's experiment-entity name rule.</summary>
    public const string NamePattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}$";

    [JsonPropertyName("name")]
    [Required]
    [Length(Min = 1, Max = 120)]
    [Pattern(NamePattern)]
    [Description("Name of the experiment (1-120 characters: letters, digits and inner hyphens).")]
    public string Name { get; set; } = "";

    [JsonPropertyName("trial")]
    [Length(Min = 1, Max = 120)]
    [Pattern(NamePattern)]
    [Description("Trial within the experiment (1-120 characters: letters, digits and inner hyphens).")]
    public string? Trial { get; set; }
}
