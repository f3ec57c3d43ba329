using System.ComponentModel;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;

namespace Ferry.Crds.V1Alpha1;

/// <summary>What to train, where, and within which limits.</summary>
[Description("TrainingJobSpec is what to train, where, and within which limits.")]
[ImmutableExcept("suspend", Message = "spec is immutable once the TrainingJob is created (only spec.suspend may change): delete and re-create the TrainingJob to change it")]
[CelRule("(has(self.backend) && self.backend == 'Local') || has(self.image)",
    Message = "spec.image is required unless spec.backend is Local: set spec.image to the training image, e.g. ghcr.io/ferry-dev/ferry-trainer:0.1.0",
    FieldPath = ".image", Reason = "FieldValueRequired")]
[CelRule("!has(self.backend) || self.backend != 'SageMaker' || (has(self.sageMaker) && has(self.sageMaker.roleArn))",
    Message = "spec.sageMaker.roleArn is required when spec.backend is SageMaker: set it to the IAM role SageMaker assumes, e.g. arn:aws:iam::123456789012:role/ferry-training",
    FieldPath = ".sageMaker.roleArn", Reason = "FieldValueRequired")]
[CelRule("!has(self.backend) || self.backend != 'SageMaker' || (has(self.resources) && has(self.resources.instanceType))",
    Message = "spec.resources.instanceType is required when spec.backend is SageMaker: set it to a SageMaker instance type, e.g. ml.g5.xlarge",
    FieldPath = ".resources.instanceType", Reason = "FieldValueRequired")]
[CelRule("!has(self.backend) || self.backend != 'SageMaker' || has(self.output)",
    Message = "spec.output.uri is required when spec.backend is SageMaker: set it to the s3:// prefix where the model is written",
    FieldPath = ".output", Reason = "FieldValueRequired")]
[CelRule("(has(self.backend) && self.backend == 'Local') || !has(self.inputs) || self.inputs.all(c, c.uri.startsWith('s3://'))",
    Message = "spec.inputs[].uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local",
    FieldPath = ".inputs")]
[CelRule("(has(self.backend) && self.backend == 'Local') || !has(self.output) || self.output.uri.startsWith('s3://')",
    Message = "spec.output.uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local",
    FieldPath = ".output.uri")]
[CelRule("(has(self.backend) && self.backend == 'Local') || !has(self.checkpoint) || self.checkpoint.uri.startsWith('s3://')",
    Message = "spec.checkpoint.uri must be an s3:// URI unless spec.backend is Local: file:// URIs name this machine's files and only work with backend Local",
    FieldPath = ".checkpoint.uri")]
[CelRule("!has(self.stoppingCondition) || !has(self.stoppingCondition.maxWaitSeconds) || (has(self.spot) && self.spot)",
    Message = "spec.stoppingCondition.maxWaitSeconds only applies to spot training: set spec.spot: true or remove maxWaitSeconds",
    FieldPath = ".stoppingCondition.maxWaitSeconds", Reason = "FieldValueForbidden")]
public sealed class TrainingJobSpec
{
    [JsonPropertyName("backend")]
    [Default("InCluster")]
    [Description("Backend runs the job: InCluster (pods in this cluster, the default), SageMaker (an AWS SageMaker training job) or Local (processes on the machine running `ferry run`).")]
    public TrainingJobBackend Backend { get; set; } = TrainingJobBackend.InCluster;

    [JsonPropertyName("image")]
    [Length(Min = 1, Max = 1024)]
    [Description("Image is the training container image. Required unless backend is Local, where the built-in trainer runs. The same image runs on every backend (SageMaker's container contract).")]
    public string? Image { get; set; }

    [JsonPropertyName("command")]
    [Items(Max = 32)]
    [Length(Min = 1, Max = 4096)]
    [Description("Command is the entry point; defaults to [\"train\"], SageMaker's convention of running the image as `train`.")]
    public IList<string>? Command { get; set; }

    [JsonPropertyName("args")]
    [Items(Max = 256)]
    [Length(Max = 4096)]
    [Description("Args are passed to the command.")]
    public IList<string>? Args { get; set; }

    [JsonPropertyName("hyperParameters")]
    [MaxProperties(100)]
    [Length(Max = 2500)]
    [CelRule("self.all(k, size(k) >= 1 && size(k) <= 256)",
        Message = "spec.hyperParameters keys must be 1-256 characters long: shorten the key")]
    [Description("HyperParameters are passed to the trainer as /opt/ml/input/config/hyperparameters.json and SM_HP_<NAME> (at most 100 entries, keys up to 256 and values up to 2500 characters). Values are strings: quote numbers.")]
    public IDictionary<string, string>? HyperParameters { get; set; }

    [JsonPropertyName("env")]
    [MaxProperties(100)]
    [Length(Max = 512)]
    [CelRule("self.all(k, size(k) <= 512 && k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))",
        Message = "spec.env keys must be environment variable names of at most 512 characters (letters, digits and _, not starting with a digit): rename the variable")]
    [Description("Env sets environment variables of the training process (at most 100; names match [a-zA-Z_][a-zA-Z0-9_]* up to 512 characters; values up to 512 characters).")]
    public IDictionary<string, string>? Env { get; set; }

    [JsonPropertyName("inputs")]
    [Items(Max = 20)]
    [CelRule("self.all(c, self.exists_one(d, d.name == c.name))",
        Message = "spec.inputs[].name must be unique: give every channel its own name", Reason = "FieldValueDuplicate")]
    [Description("Inputs are the data channels, downloaded to /opt/ml/input/data/<name> before training starts (at most 20).")]
    public IList<InputChannel>? Inputs { get; set; }

    [JsonPropertyName("output")]
    [Description("Output is where artifacts go; the model lands at <uri>/<job name>/output/model.tar.gz (SageMaker's layout). Required for backend SageMaker.")]
    public OutputSpec? Output { get; set; }

    [JsonPropertyName("resources")]
    [DefaultEmptyObject]
    [Description("Resources are the replicas and what each one gets.")]
    public ResourceSpec? Resources { get; set; }

    [JsonPropertyName("stoppingCondition")]
    [Description("StoppingCondition limits how long the job may run (and, with spot, wait).")]
    public StoppingCondition? StoppingCondition { get; set; }

    [JsonPropertyName("spot")]
    [Default(false)]
    [Description("Spot runs on spare capacity: SageMaker managed spot training, or the operator's configured spot placement in the cluster. Pair it with a checkpoint so an interrupted attempt resumes.")]
    public bool Spot { get; set; }

    [JsonPropertyName("checkpoint")]
    [Description("Checkpoint is synced with /opt/ml/checkpoints; a restarted attempt resumes from it.")]
    public CheckpointSpec? Checkpoint { get; set; }

    [JsonPropertyName("maxRetries")]
    [Default(0)]
    [Minimum(0)]
    [Maximum(30)]
    [Description("MaxRetries is how many times the whole job is restarted after a failure (0-30). Every attempt resumes from the last checkpoint.")]
    public int MaxRetries { get; set; }

    [JsonPropertyName("metricDefinitions")]
    [Items(Max = 40)]
    [CelRule("self.all(m, self.exists_one(n, n.name == m.name))",
        Message = "spec.metricDefinitions[].name must be unique: give every metric its own name", Reason = "FieldValueDuplicate")]
    [Description("MetricDefinitions extract metrics from the training log (at most 40). When empty, the defaults match the trainer's lines: train_loss, val_loss, val_accuracy and epoch.")]
    public IList<MetricDefinition>? MetricDefinitions { get; set; }

    [JsonPropertyName("rules")]
    [Items(Max = 20)]
    [CelRule("self.all(r, r.type != 'MetricThreshold' || (has(r.value) && has(r.comparison)))",
        Message = "spec.rules[].value and spec.rules[].comparison are required when type is MetricThreshold: e.g. value: 0.9 and comparison: GreaterThan stops the job once the metric exceeds 0.9", Reason = "FieldValueRequired")]
    [CelRule("self.all(r, !(r.type in ['Hang', 'StartDeadline']) || has(r.seconds))",
        Message = "spec.rules[].seconds is required when type is Hang or StartDeadline: set how long the metric may stay silent, e.g. seconds: 600", Reason = "FieldValueRequired")]
    [CelRule("self.all(r, self.exists_one(q, (has(q.name) ? q.name : q.type) == (has(r.name) ? r.name : r.type)))",
        Message = "spec.rules[].name must be unique (a rule without a name is named after its type): give each rule its own name", Reason = "FieldValueDuplicate")]
    [Description("Rules watch the metrics while the job runs and can stop it (at most 20).")]
    public IList<TrainingRule>? Rules { get; set; }

    [JsonPropertyName("experiment")]
    [Description("Experiment carries lineage labels to SageMaker's ExperimentConfig and to status.")]
    public ExperimentSpec? Experiment { get; set; }

    [JsonPropertyName("suspend")]
    [Default(false)]
    [Description("Suspend stops the job's pods (in the cluster) and keeps the resource; set it back to false to resume from the last checkpoint. The only field that may change after creation.")]
    public bool Suspend { get; set; }

    [JsonPropertyName("sageMaker")]
    [Description("SageMaker holds the settings only the SageMaker backend uses.")]
    public SageMakerSpec? SageMaker { get; set; }

    [JsonPropertyName("inCluster")]
    [Description("InCluster holds the settings only the InCluster backend uses.")]
    public InClusterSpec? InCluster { get; set; }
}

/// <summary>Where a TrainingJob runs.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrainingJobBackend>))]
public enum TrainingJobBackend
{
    InCluster,
    SageMaker,
    Local,
}
