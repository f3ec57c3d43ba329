using System.Collections.Concurrent;
using System.Diagnostics;
using Ferry.KubeEmulator.Store;

namespace Ferry.Bench.Operator;

/// <summary>
/// Follows the emulator's commit stream (in-process, so observing costs the API server no requests) and records,
/// per TrainingJob, when its replicas' pods were committed and when the job reached a terminal phase.
/// </summary>
internal sealed class JobTracker
{
    /// <summary>The label the operator puts on every pod of a job (DESIGN.md §4).</summary>
    public const string JobNameLabel = "ferry.dev/job-name";

    private readonly ConcurrentDictionary<string, JobTimes> _jobs = new(StringComparer.Ordinal);
    private readonly int _replicas;

    public JobTracker(ObjectStore store, int replicas)
    {
        _replicas = replicas;
        store.Committed += OnCommitted;
    }

    /// <summary>Registers a job just before its create request is sent.</summary>
    public JobTimes Expect(string ns, string name) => _jobs.GetOrAdd(ns + "/" + name, _ => new JobTimes());

    public JobTimes? Find(string ns, string name) => _jobs.GetValueOrDefault(ns + "/" + name);

    /// <summary>Pods committed for jobs the benchmark did not create (would mean the label or naming is off).</summary>
    public int StrayPods => _stray;

    private int _stray;

    private void OnCommitted(WatchEvent e)
    {
        var now = Stopwatch.GetTimestamp();
        if (e.Collection.Plural == "pods" && e.Collection.Group.Length == 0 && e.Type == WatchEventType.Added)
        {
            if (!e.Object.Labels.TryGetValue(JobNameLabel, out var job) || !_jobs.TryGetValue(e.Object.Namespace + "/" + job, out var times))
            {
                Interlocked.Increment(ref _stray);
                return;
            }

            if (Interlocked.Increment(ref times.PodsCreated) == _replicas)
            {
                times.AllPodsAt = now;
            }
        }
        else if (e.Collection.Plural == "trainingjobs" && e.Type != WatchEventType.Deleted
            && _jobs.TryGetValue(e.Object.Namespace + "/" + e.Object.Name, out var times))
        {
            var phase = e.Object.Fields.GetValueOrDefault("status.phase");
            times.Phase = phase;
            if (phase is "Succeeded" or "Failed" && times.TerminalAt == 0)
            {
                times.TerminalAt = now;
            }
        }
    }
}

/// <summary>Stopwatch timestamps of one job's milestones (0 = not yet).</summary>
internal sealed class JobTimes
{
    public long CreateSentAt;
    public long CreatedAt;
    public int PodsCreated;
    public long AllPodsAt;
    public long TerminalAt;
    public volatile string? Phase;
}
