using System.Collections;
using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Contract;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Backends.Local;

/// <summary>
/// The Local backend: the replicas of one TrainingJob as processes on this machine (see <see cref="LocalReplicaProcess"/>).
/// It owns "what is running" — starts the replicas the status function asks for, stops the ones it deletes, and
/// reports every replica as a <see cref="ReplicaObservation"/>; the decisions are the shared
/// <see cref="TrainingJobStatusCalculator"/>'s, applied by the <see cref="TrainingJobReconciler"/>. Each attempt gets fresh roots under the job directory, one free
/// MASTER_PORT on 127.0.0.1, and FERRY_OPT_ML per replica.
/// </summary>
public sealed class LocalBackend(LocalJobPlan plan, ProgramPath agent, TimeProvider time, Action<LocalLogLine> onLine) : ITrainingBackend, IAsyncDisposable
{

    private readonly Dictionary<(int Attempt, int Index), LocalReplicaProcess> _replicas = [];
    private readonly Dictionary<int, int> _ports = [];
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _changed = new(0);

    // Rank 0's output of each attempt through the metric definitions, and the last sequence number published.
    private readonly Dictionary<int, Insight.LiveMetricRecorder> _live = [];
    private readonly Dictionary<int, (long Sequence, DateTimeOffset At)> _published = [];

    /// <summary>The plan this backend runs.</summary>
    public LocalJobPlan Plan => plan;

    /// <inheritdoc />
    public bool NeedsFinalizer => true;

    /// <summary>What the agent grants the training process between SIGTERM and SIGKILL.</summary>
    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often rank 0's new metric values are handed to the reconciler (the backend reads the processes' output
    /// itself, so nothing travels over a network): the status changes from metrics at most this often.
    /// </summary>
    public TimeSpan LiveMetricsInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Variables every replica gets on top of this process's environment (e.g. an S3 endpoint and credentials).</summary>
    public IReadOnlyDictionary<string, string> EnvironmentOverrides { get; init; } = new Dictionary<string, string>();

    /// <summary>The command a replica's agent runs to train; null runs the plan's command as a process (container mode: <see cref="ContainerReplicaCommand.For"/>).</summary>
    public Func<LocalReplicaContext, IReadOnlyList<string>>? TrainingCommand { get; init; }

    /// <inheritdoc />
    public TrainingJobBackend Backend => TrainingJobBackend.Local;

    /// <inheritdoc />
    public string? Validate(TrainingJob job) => job.Metadata.Name == plan.Job.JobName
        ? null
        : $"this Local backend runs TrainingJob {plan.Job.JobName}, not {job.Metadata.Name}: run each manifest with its own `ferry run`.";

    /// <inheritdoc />
    public Task<BackendObservation> ObserveAsync(TrainingJob job, CancellationToken cancellationToken) =>
        Task.FromResult(new BackendObservation(WithLiveMetrics(Observe(), job.Status?.MetricSource), Artifacts: Storage.ArtifactLocations.For(job)));

    /// <summary>The identity of rank 0 of <paramref name="attempt"/> as a metric reporter.</summary>
    public string LiveReplica(int attempt) => $"local/{plan.Job.JobName}-0/attempt-{attempt.ToString(CultureInfo.InvariantCulture)}";

    // Rank 0 of each attempt carries the values published so far that the status has not recorded yet.
    private IReadOnlyList<ReplicaObservation> WithLiveMetrics(IReadOnlyList<ReplicaObservation> replicas, MetricSourceStatus? cursor)
    {
        lock (_gate)
        {
            return [.. replicas.Select(r =>
            {
                if (r.Index != 0 || !_live.TryGetValue(r.Attempt, out var recorder))
                {
                    return r;
                }

                var replica = LiveReplica(r.Attempt);
                var published = Publish(r.Attempt, recorder);
                var after = cursor?.Replica == replica ? cursor.Sequence : 0;
                var points = recorder.After(after).Where(p => p.Sequence <= published).ToList();
                return r with { Live = new Insight.LiveReport(replica, points, recorder.Progress) };
            })];
        }
    }

    // The sequence number handed to the reconciler: advanced at most once per interval.
    private long Publish(int attempt, Insight.LiveMetricRecorder recorder)
    {
        var now = time.GetUtcNow();
        if (!_published.TryGetValue(attempt, out var last) || now - last.At >= LiveMetricsInterval)
        {
            var sequence = recorder.Sequence;
            if (!_published.ContainsKey(attempt) || sequence != last.Sequence)
            {
                _published[attempt] = last = (sequence, now);
            }
        }

        return last.Sequence;
    }

    // Rank 0's lines feed the attempt's recorder; new values due for publishing wake the reconciler.
    private void OnLine(LocalLogLine line)
    {
        if (line.Rank == 0)
        {
            Insight.LiveMetricRecorder? recorder;
            bool due;
            lock (_gate)
            {
                recorder = _live.GetValueOrDefault(line.Attempt);
                due = recorder is not null && (!_published.TryGetValue(line.Attempt, out var last) || time.GetUtcNow() - last.At >= LiveMetricsInterval);
            }

            if (recorder?.Observe(line.Text, time.GetUtcNow()) == true && due)
            {
                Signal();
            }
        }

        onLine(line);
    }

    /// <inheritdoc />
    public Task StartAsync(TrainingJob job, ReplicaStart start, CancellationToken cancellationToken)
    {
        Start(start);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task DeleteAsync(TrainingJob job, IReadOnlyList<ReplicaObservation> replicas, CancellationToken cancellationToken)
    {
        Delete(replicas);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<TimeSpan?> CleanUpAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        await StopAllAsync().WaitAsync(cancellationToken);
        return null;
    }

    /// <summary>Every replica that has not been deleted and gone away, of any attempt.</summary>
    public IReadOnlyList<ReplicaObservation> Observe()
    {
        lock (_gate)
        {
            // A deleted replica whose processes have ended is gone, as a deleted pod is.
            foreach (var key in _replicas.Where(r => r.Value.StopRequested && r.Value.Completion.IsCompleted).Select(r => r.Key).ToList())
            {
                _replicas.Remove(key);
            }

            return [.. _replicas.Values.Select(r => r.Observe()).OrderBy(r => r.Attempt).ThenBy(r => r.Index)];
        }
    }

    /// <summary>Starts the replicas <paramref name="start"/> names (a fresh root each: a stale one of the same attempt is removed).</summary>
    public void Start(ReplicaStart start)
    {
        lock (_gate)
        {
            if (!_ports.TryGetValue(start.Attempt, out var port))
            {
                port = LocalPrograms.FreePort();
                _ports[start.Attempt] = port;
            }

            var attemptDirectory = plan.AttemptDirectory(start.Attempt);
            foreach (var index in start.Indexes)
            {
                if (_replicas.ContainsKey((start.Attempt, index)))
                {
                    continue;
                }

                var root = plan.ReplicaRoot(start.Attempt, index);
                if (Directory.Exists(root))
                {
                    Directory.Delete(root, recursive: true);
                }

                Directory.CreateDirectory(root);
                var (log, terminationLog) = LocalReplicaLaunch.Paths(attemptDirectory, index);
                File.Delete(terminationLog);
                if (index == 0)
                {
                    _live[start.Attempt] = new Insight.LiveMetricRecorder(plan.Job.MetricDefinitions);
                    _published.Remove(start.Attempt);
                }

                var command = TrainingCommand?.Invoke(new LocalReplicaContext(start.Attempt, index, root, port)) ?? plan.Command;
                var launch = new LocalReplicaLaunch(agent, command, Environment(index, start.Attempt, root, port, terminationLog), plan.WorkingDirectory, log, terminationLog, StopGracePeriod);
                _replicas[(start.Attempt, index)] = LocalReplicaProcess.Start(
                    $"{plan.Job.JobName}-{index}", index, start.Attempt, launch, time, OnLine, Signal);
            }
        }

        Signal();
    }

    /// <summary>Stops the replicas (they stay observed as terminating until their processes have ended).</summary>
    public void Delete(IEnumerable<ReplicaObservation> replicas)
    {
        lock (_gate)
        {
            foreach (var replica in replicas)
            {
                if (_replicas.TryGetValue((replica.Attempt, replica.Index), out var process))
                {
                    process.RequestStop();
                    _ = process.Completion.ContinueWith(_ => Signal(), TaskScheduler.Default);
                }
            }
        }
    }

    /// <summary>Waits until a replica changes state or <paramref name="timeout"/> passes on the backend's clock.</summary>
    public async Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var change = _changed.WaitAsync(linked.Token);
        var delay = Task.Delay(timeout, time, linked.Token);
        await Task.WhenAny(change, delay);
        await linked.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();

        // Coalesce a burst of changes into one look.
        while (_changed.CurrentCount > 0 && _changed.Wait(0, CancellationToken.None))
        {
        }
    }

    /// <summary>Stops every replica and waits until their processes have ended.</summary>
    public async Task StopAllAsync()
    {
        List<LocalReplicaProcess> all;
        lock (_gate)
        {
            all = [.. _replicas.Values];
        }

        foreach (var replica in all)
        {
            replica.RequestStop();
        }

        await Task.WhenAll(all.Select(r => r.Completion));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAllAsync();
        _changed.Dispose();
    }

    private void Signal()
    {
        try
        {
            _changed.Release();
        }
        catch (ObjectDisposedException)
        {
            // The run is over.
        }
    }

    private Dictionary<string, string> Environment(int index, int attempt, string root, int port, string terminationLog)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = (string?)entry.Value ?? "";
        }

        foreach (var (name, value) in EnvironmentOverrides)
        {
            variables[name] = value;
        }

        // The agent rebuilds the training process's contract variables from FERRY_JOB and the MASTER_* variables
        // set here, so this attempt's free port reaches the trainer.
        var job = plan.Job;
        var replica = new ContractReplica(index, root, ContainerContract.HostNames(job.Replicas), "127.0.0.1", port);
        foreach (var (name, value) in ContainerContract.Environment(job.ToContractJob(), replica))
        {
            variables[name] = value;
        }

        variables[Agent.AgentJob.Variable] = job.Serialize();
        variables[Agent.AgentSettings.ReplicaIndexVariable] = index.ToString(CultureInfo.InvariantCulture);
        variables[ContainerContract.RootVariable] = root;
        variables[Agent.AgentSettings.TerminationLogVariable] = terminationLog;
        variables[Agent.AgentSettings.AttemptVariable] = attempt.ToString(CultureInfo.InvariantCulture);
        variables[Agent.AgentSettings.StopGraceVariable] = ((int)StopGracePeriod.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        return variables;
    }
}
