using Ferry.Operator.Agent;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>An in-memory backend: replicas are records the test moves between states.</summary>
public sealed class FakeBackend(TrainingJobBackend backend = TrainingJobBackend.InCluster) : ITrainingBackend
{
    private readonly Dictionary<string, ReplicaObservation> _replicas = new(StringComparer.Ordinal);

    public TrainingJobBackend Backend => backend;

    public bool NeedsFinalizer { get; set; } = true;

    public int Starts { get; private set; }

    public int Deletes { get; private set; }

    public int CleanUps { get; private set; }

    public Exception? FailObserveWith { get; set; }

    public Exception? FailStartWith { get; set; }

    public IReadOnlyList<ReplicaObservation> Replicas => [.. _replicas.Values.OrderBy(r => r.Index)];

    public void SetAll(ReplicaState state, string? message = null, int? exitCode = null)
    {
        foreach (var replica in _replicas.Values.ToList())
        {
            _replicas[replica.Name] = (replica with { State = state, ExitCode = exitCode }).WithTerminationMessage(message);
        }
    }

    public void Set(int index, ReplicaState state, string? message = null, int? exitCode = null)
    {
        var replica = _replicas.Values.Single(r => r.Index == index);
        _replicas[replica.Name] = (replica with { State = state, ExitCode = exitCode }).WithTerminationMessage(message);
    }

    /// <summary>Replica <paramref name="index"/> reports <paramref name="metric"/> = <paramref name="value"/>, as the agent's metric scan would.</summary>
    public void Report(int index, string metric, double value, DateTimeOffset at)
    {
        var replica = _replicas.Values.Single(r => r.Index == index);
        _replicas[replica.Name] = replica with { Metrics = [new ObservedMetric(metric, value, at)] };
    }

    /// <summary>What <see cref="Validate"/> answers (the operator's configuration refusing the spec), or null.</summary>
    public string? Refuse { get; set; }

    public string? Validate(TrainingJob job) => Refuse;

    public Task<BackendObservation> ObserveAsync(TrainingJob job, CancellationToken cancellationToken) =>
        FailObserveWith is { } error
            ? Task.FromException<BackendObservation>(error)
            : Task.FromResult(new BackendObservation(Replicas, Artifacts: Ferry.Operator.Storage.ArtifactLocations.For(job)));

    public Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken)
    {
        if (FailStartWith is { } error)
        {
            // As the API: the replicas before the refused one were created.
            var first = start.Indexes[0];
            var name0 = $"{job.Metadata.Name}-{first}";
            _replicas.TryAdd(name0, new ReplicaObservation(name0, first, start.Attempt, ReplicaState.Pending));
            return Task.FromException(error);
        }

        foreach (var index in start.Indexes)
        {
            var name = $"{job.Metadata.Name}-{index}";
            _replicas.TryAdd(name, new ReplicaObservation(name, index, start.Attempt, ReplicaState.Pending));
            Starts++;
        }

        return Task.CompletedTask;
    }

    public Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken)
    {
        foreach (var replica in replicas)
        {
            Deletes += _replicas.Remove(replica.Name) ? 1 : 0;
        }

        return Task.CompletedTask;
    }

    public Task<TimeSpan?> CleanUpAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        CleanUps++;
        _replicas.Clear();
        return Task.FromResult<TimeSpan?>(null);
    }
}
