using System.Net;
using k8s.Autorest;
using k8s.LeaderElection;

namespace Ferry.Operator.Tests.Runtime.Support;

/// <summary>
/// One lease shared by several candidates, with the API server's optimistic concurrency: an update based on a
/// stale read fails. A candidate can be cut off (its requests fail) to simulate a network partition.
/// </summary>
public sealed class InMemoryLease
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _partitioned = [];
    private LeaderElectionRecord? _record;
    private int _version;

    public LeaderElectionRecord? Record
    {
        get
        {
            lock (_lock)
            {
                return _record;
            }
        }
    }

    public int Updates { get; private set; }

    public ILock For(string identity) => new Candidate(this, identity);

    public void Partition(string identity, bool cut)
    {
        lock (_lock)
        {
            if (cut)
            {
                _partitioned.Add(identity);
            }
            else
            {
                _partitioned.Remove(identity);
            }
        }
    }

    private sealed class Candidate(InMemoryLease lease, string identity) : ILock
    {
        private int _readVersion = -1;

        public string Identity => identity;

        public string Describe() => "test/lease";

        public Task<LeaderElectionRecord> GetAsync(CancellationToken cancellationToken = default)
        {
            lock (lease._lock)
            {
                Check();
                if (lease._record is null)
                {
                    var notFound = new HttpResponseMessage(HttpStatusCode.NotFound);
                    throw new HttpOperationException("not found") { Response = new HttpResponseMessageWrapper(notFound, "") };
                }

                _readVersion = lease._version;
                return Task.FromResult(Copy(lease._record));
            }
        }

        public Task<bool> CreateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default)
        {
            lock (lease._lock)
            {
                Check();
                if (lease._record is not null)
                {
                    return Task.FromResult(false);
                }

                lease._record = Copy(record);
                _readVersion = ++lease._version;
                return Task.FromResult(true);
            }
        }

        public Task<bool> UpdateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default)
        {
            lock (lease._lock)
            {
                Check();
                if (_readVersion != lease._version)
                {
                    return Task.FromResult(false);
                }

                lease._record = Copy(record);
                lease.Updates++;
                _readVersion = ++lease._version;
                return Task.FromResult(true);
            }
        }

        private void Check()
        {
            if (lease._partitioned.Contains(identity))
            {
                throw new HttpRequestException("network unreachable");
            }
        }

        private static LeaderElectionRecord Copy(LeaderElectionRecord r) => new()
        {
            HolderIdentity = r.HolderIdentity,
            LeaseDurationSeconds = r.LeaseDurationSeconds,
            AcquireTime = r.AcquireTime,
            RenewTime = r.RenewTime,
            LeaderTransitions = r.LeaderTransitions,
        };
    }
}
