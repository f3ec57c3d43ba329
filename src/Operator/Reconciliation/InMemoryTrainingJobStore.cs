using Ferry.Crds.V1Alpha1;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// TrainingJobs held in memory, for `ferry run` and tests: the same semantics the reconciler relies on in the API
/// (generation, finalizers holding deletion, deletionTimestamp, status writes counted) without a server.
/// Readers get copies, so nothing outside the store mutates a stored job.
/// </summary>
public sealed class InMemoryTrainingJobStore(TimeProvider time) : ITrainingJobStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string, string), TrainingJob> _jobs = [];
    private long _resourceVersion;

    /// <summary>Raised after any change to a job (namespace, name), e.g. to queue another reconcile.</summary>
    public event Action<string, string>? Changed;

    /// <summary>How many writes (create, finalizer, status, delete) the store accepted.</summary>
    public int Writes { get; private set; }

    /// <summary>How many of those were status writes.</summary>
    public int StatusWrites { get; private set; }

    /// <summary>Adds a new job (generation 1, a fresh uid), as `kubectl apply` would.</summary>
    public TrainingJob Create(TrainingJob job)
    {
        var copy = Copy(job);
        copy.Metadata.NamespaceProperty ??= "default";
        copy.Metadata.Generation = 1;
        copy.Metadata.Uid ??= Guid.NewGuid().ToString();
        copy.Metadata.CreationTimestamp ??= time.GetUtcNow().UtcDateTime;
        Store(copy);
        return Copy(copy);
    }

    /// <summary>Changes the spec (e.g. `suspend`), bumping the generation.</summary>
    public TrainingJob UpdateSpec(string ns, string name, Action<TrainingJobSpec> change)
    {
        TrainingJob copy;
        lock (_lock)
        {
            copy = Copy(_jobs[(ns, name)]);
        }

        change(copy.Spec);
        copy.Metadata.Generation = (copy.Metadata.Generation ?? 0) + 1;
        Store(copy);
        return Copy(copy);
    }

    /// <summary>Requests deletion: with finalizers the job stays (with a deletionTimestamp) until they are removed.</summary>
    public void RequestDeletion(string ns, string name)
    {
        TrainingJob? copy;
        lock (_lock)
        {
            copy = _jobs.TryGetValue((ns, name), out var job) ? Copy(job) : null;
        }

        if (copy is null)
        {
            return;
        }

        if (copy.Metadata.Finalizers is { Count: > 0 })
        {
            copy.Metadata.DeletionTimestamp ??= time.GetUtcNow().UtcDateTime;
            Store(copy);
        }
        else
        {
            Remove(ns, name);
        }
    }

    /// <summary>Every job, copied.</summary>
    public IReadOnlyList<TrainingJob> List()
    {
        lock (_lock)
        {
            return [.. _jobs.Values.Select(Copy)];
        }
    }

    /// <inheritdoc />
    public Task<TrainingJob?> GetAsync(string ns, string name, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_jobs.TryGetValue((ns, name), out var job) ? Copy(job) : null);
        }
    }

    /// <inheritdoc />
    public Task<TrainingJob> AddFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken)
    {
        var stored = Current(job);
        if (stored.Metadata.Finalizers?.Contains(finalizer) != true)
        {
            stored.Metadata.Finalizers = [.. stored.Metadata.Finalizers ?? [], finalizer];
            Store(stored);
        }

        return Task.FromResult(Copy(stored));
    }

    /// <inheritdoc />
    public Task RemoveFinalizerAsync(TrainingJob job, string finalizer, CancellationToken cancellationToken)
    {
        var stored = Current(job);
        if (stored.Metadata.Finalizers?.Contains(finalizer) == true)
        {
            stored.Metadata.Finalizers = [.. stored.Metadata.Finalizers.Where(f => f != finalizer)];
            if (stored.Metadata.DeletionTimestamp is not null && stored.Metadata.Finalizers.Count == 0)
            {
                Remove(stored.Metadata.NamespaceProperty, stored.Metadata.Name);
            }
            else
            {
                Store(stored);
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<TrainingJob> WriteStatusAsync(TrainingJob job, TrainingJobStatus status, CancellationToken cancellationToken)
    {
        var stored = Current(job);
        stored.Status = KubernetesJson.Deserialize<TrainingJobStatus>(KubernetesJson.Serialize(status));
        lock (_lock)
        {
            StatusWrites++;
        }

        Store(stored);
        return Task.FromResult(Copy(stored));
    }

    /// <inheritdoc />
    public Task DeleteAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        RequestDeletion(job.Metadata.NamespaceProperty, job.Metadata.Name);
        return Task.CompletedTask;
    }

    private TrainingJob Current(TrainingJob job)
    {
        lock (_lock)
        {
            return _jobs.TryGetValue((job.Metadata.NamespaceProperty, job.Metadata.Name), out var stored)
                ? Copy(stored)
                : throw new InvalidOperationException($"TrainingJob {job.Metadata.NamespaceProperty}/{job.Metadata.Name} does not exist.");
        }
    }

    private void Store(TrainingJob job)
    {
        lock (_lock)
        {
            job.Metadata.ResourceVersion = (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _jobs[(job.Metadata.NamespaceProperty, job.Metadata.Name)] = Copy(job);
            Writes++;
        }

        Changed?.Invoke(job.Metadata.NamespaceProperty, job.Metadata.Name);
    }

    private void Remove(string ns, string name)
    {
        lock (_lock)
        {
            _jobs.Remove((ns, name));
            Writes++;
        }

        Changed?.Invoke(ns, name);
    }

    private static TrainingJob Copy(TrainingJob job) => KubernetesJson.Deserialize<TrainingJob>(KubernetesJson.Serialize(job));
}

/// <summary>Keeps events in memory (for `ferry run` to print and for tests to inspect).</summary>
public sealed class InMemoryEventSink : ITrainingJobEventSink
{
    private readonly Lock _lock = new();
    private readonly List<(string Job, TrainingJobEvent Event)> _events = [];

    /// <summary>Raised for every event recorded.</summary>
    public event Action<TrainingJob, TrainingJobEvent>? Recorded;

    /// <summary>Every event so far, with the job's name.</summary>
    public IReadOnlyList<(string Job, TrainingJobEvent Event)> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <inheritdoc />
    public Task RecordAsync(TrainingJob job, TrainingJobEvent trainingEvent, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _events.Add((job.Metadata.Name, trainingEvent));
        }

        Recorded?.Invoke(job, trainingEvent);
        return Task.CompletedTask;
    }
}
