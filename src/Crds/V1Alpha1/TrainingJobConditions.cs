namespace Ferry.Crds.V1Alpha1;

/// <summary>The condition types a TrainingJob's status carries.</summary>
public static class TrainingJobConditions
{
    /// <summary>The backend accepted the job (pods and Service created, or the SageMaker job created).</summary>
    public const string Created = "Created";

    /// <summary>Training is running.</summary>
    public const string Running = "Running";

    /// <summary>The job succeeded and its artifacts are uploaded (as batch/v1 Job).</summary>
    public const string Complete = "Complete";

    /// <summary>The job failed after its last allowed attempt (as batch/v1 Job).</summary>
    public const string Failed = "Failed";

    /// <summary>The job is suspended (spec.suspend).</summary>
    public const string Suspended = "Suspended";

    /// <summary>The job was stopped by a training rule, its stopping condition, or deletion.</summary>
    public const string Stopped = "Stopped";

    /// <summary>kstatus: the job finished successfully (True), or not yet or never (False).</summary>
    public const string Ready = "Ready";

    /// <summary>kstatus (abnormal-true: present only while True): the job is still progressing towards an end.</summary>
    public const string Reconciling = "Reconciling";

    /// <summary>kstatus (abnormal-true: present only while True): the job ended without success and will not progress.</summary>
    public const string Stalled = "Stalled";

    /// <summary>A training rule fired; the reason names the rule.</summary>
    public const string RuleTriggered = "RuleTriggered";
}

/// <summary>The labels and finalizer Ferry puts on what it creates.</summary>
public static class TrainingJobLabels
{
    /// <summary>The owning TrainingJob's name, on every pod and Service.</summary>
    public const string JobName = "ferry.dev/job-name";

    /// <summary>The replica's index, 0..replicas-1 (host <c>algo-(index+1)</c>).</summary>
    public const string ReplicaIndex = "ferry.dev/replica-index";

    /// <summary>The attempt the pod belongs to, 1 for the first.</summary>
    public const string Attempt = "ferry.dev/attempt";

    /// <summary>The experiment of spec.experiment.name, set on the TrainingJob by the operator.</summary>
    public const string Experiment = "ferry.dev/experiment";

    /// <summary>The trial of spec.experiment.trial, set on the TrainingJob by the operator.</summary>
    public const string Trial = "ferry.dev/trial";

    /// <summary>The finalizer that stops the backend's job before the resource goes away.</summary>
    public const string Finalizer = "ferry.dev/finalizer";
}
