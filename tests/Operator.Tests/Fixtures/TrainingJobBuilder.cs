using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Reconciliation;
using k8s;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>Small builders for table tests: <c>Job().WithReplicas(2).WithMaxRetries(1)</c>, <c>Pods(attempt: 1).Running(2)</c>.</summary>
public static class Build
{
    public static readonly DateTimeOffset T0 = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static TrainingJobBuilder Job(string name = "mnist") => new(name);

    public static ReplicaSetBuilder Pods(int attempt = 1, string job = "mnist") => new(job, attempt);
}

public sealed class TrainingJobBuilder(string name)
{
    private readonly TrainingJob _job = new()
    {
        Metadata = new() { Name = name, NamespaceProperty = "team-a", Uid = "uid-" + name, Generation = 1, ResourceVersion = "1" },
        Spec = new TrainingJobSpec
        {
            Image = "ghcr.io/ferry-dev/ferry-trainer:0.1.0",
            Resources = new ResourceSpec { Replicas = 1 },
            Output = new OutputSpec { Uri = "s3://bucket/out" },
        },
    };

    public TrainingJobBuilder WithReplicas(int replicas)
    {
        _job.Spec.Resources!.Replicas = replicas;
        return this;
    }

    public TrainingJobBuilder WithMaxRetries(int retries)
    {
        _job.Spec.MaxRetries = retries;
        return this;
    }

    public TrainingJobBuilder WithMaxRuntime(int seconds)
    {
        _job.Spec.StoppingCondition = new StoppingCondition { MaxRuntimeSeconds = seconds };
        return this;
    }

    public TrainingJobBuilder WithTtl(int seconds)
    {
        (_job.Spec.InCluster ??= new InClusterSpec()).TtlSecondsAfterFinished = seconds;
        return this;
    }

    public TrainingJobBuilder WithCleanPodPolicy(CleanPodPolicy policy)
    {
        (_job.Spec.InCluster ??= new InClusterSpec()).CleanPodPolicy = policy;
        return this;
    }

    public TrainingJobBuilder Suspended(bool suspend = true)
    {
        _job.Spec.Suspend = suspend;
        return this;
    }

    public TrainingJobBuilder WithGeneration(long generation)
    {
        _job.Metadata.Generation = generation;
        return this;
    }

    public TrainingJobBuilder With(Action<TrainingJob> change)
    {
        change(_job);
        return this;
    }

    /// <summary>The status the previous reconcile wrote.</summary>
    public TrainingJobBuilder WithStatus(TrainingJobStatus? status)
    {
        _job.Status = status is null ? null : KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(status));
        return this;
    }

    public TrainingJob Build() => KubernetesJson.Deserialize<TrainingJob>(KubernetesJson.Serialize(_job));

    public static implicit operator TrainingJob(TrainingJobBuilder builder) => builder.Build();
}

public sealed class ReplicaSetBuilder(string job, int attempt)
{
    private readonly List<ReplicaObservation> _replicas = [];

    private ReplicaSetBuilder Add(int count, ReplicaState state, string? message = null, int? exitCode = null, bool terminating = false)
    {
        for (var i = 0; i < count; i++)
        {
            var index = _replicas.Count;
            _replicas.Add(new ReplicaObservation($"{job}-{index}", index, attempt, state, terminating,
                state == ReplicaState.Pending ? null : Fixtures.Build.T0.UtcDateTime, exitCode).WithTerminationMessage(message));
        }

        return this;
    }

    public ReplicaSetBuilder Pending(int count = 1) => Add(count, ReplicaState.Pending);

    public ReplicaSetBuilder Running(int count = 1) => Add(count, ReplicaState.Running);

    public ReplicaSetBuilder Succeeded(int count = 1, string? message = null) => Add(count, ReplicaState.Succeeded, message, 0);

    public ReplicaSetBuilder Failed(int count = 1, string? message = null, int exitCode = 1) => Add(count, ReplicaState.Failed, message, exitCode);

    public ReplicaSetBuilder Terminating(int count = 1) => Add(count, ReplicaState.Running, terminating: true);

    public IReadOnlyList<ReplicaObservation> Build() => [.. _replicas];

    public static implicit operator List<ReplicaObservation>(ReplicaSetBuilder builder) => [.. builder.Build()];
}
