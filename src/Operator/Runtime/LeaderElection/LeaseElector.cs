using System.Net;
using k8s.Autorest;
using k8s.LeaderElection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Operator.Runtime.LeaderElection;

/// <summary>Timing of leader election (client-go's defaults: 15s lease, 10s renew deadline, 2s retry).</summary>
public sealed record LeaderElectionOptions
{
    /// <summary>This replica's identity written into the lease (e.g. the pod name).</summary>
    public required string Identity { get; init; }

    /// <summary>How long others wait after the last observed renewal before taking over.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the leader keeps trying to renew before it gives up leadership.</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval between acquire/renew attempts.</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Checks that the durations make sense; the message names the setting to fix.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Identity))
        {
            throw new ArgumentException("Leader election needs an identity (e.g. the pod name); set leaderElection identity.");
        }

        if (RetryPeriod <= TimeSpan.Zero || RenewDeadline <= RetryPeriod || LeaseDuration <= RenewDeadline)
        {
            throw new ArgumentException(
                $"Leader election timing must satisfy leaseDuration ({LeaseDuration}) > renewDeadline ({RenewDeadline}) > retryPeriod ({RetryPeriod}) > 0; adjust leaderElection settings.");
        }
    }
}

/// <summary>
/// Lease-based leader election over KubernetesClient's <see cref="ILock"/> (e.g. <c>LeaseLock</c>), with all timing
/// through <see cref="TimeProvider"/>. KubernetesClient's own <c>LeaderElector</c> reads the wall clock and sleeps
/// with <c>Task.Delay</c>, which cannot be driven by a fake clock; this follows the same algorithm as client-go:
/// a lease held by someone else is taken only after <c>LeaseDuration</c> has passed since this replica last saw
/// it change (local observation time, so clock skew between nodes does not matter).
/// </summary>
public sealed class LeaseElector
{
    private readonly ILock _lock;
    private readonly LeaderElectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private LeaderElectionRecord? _observedRecord;
    private long _observedAt;
    private volatile bool _isLeader;

    /// <summary>Creates an elector; <see cref="RunAsync"/> starts it.</summary>
    public LeaseElector(ILock leaseLock, LeaderElectionOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        options.Validate();
        _lock = leaseLock;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Whether this replica currently holds the lease.</summary>
    public bool IsLeader => _isLeader;

    /// <summary>Raised with true when leadership starts and false when it ends.</summary>
    public event Action<bool>? LeadershipChanged;

    /// <summary>
    /// Competes for the lease until <paramref name="cancellationToken"/> is cancelled. While leading it runs
    /// <paramref name="whileLeading"/> with a token that is cancelled when the lease is lost; after a loss it
    /// competes again. On cancellation it stops the leading work and releases the lease so a peer takes over at once.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> whileLeading, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!await AcquireAsync(cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            using var leading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            SetLeader(true);
            var work = RunLeadingWorkAsync(whileLeading, leading);
            await RenewUntilLostAsync(leading.Token).ConfigureAwait(false);
            await leading.CancelAsync().ConfigureAwait(false);
            await work.ConfigureAwait(false);
            SetLeader(false);
            if (cancellationToken.IsCancellationRequested)
            {
                await ReleaseAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RunLeadingWorkAsync(Func<CancellationToken, Task> whileLeading, CancellationTokenSource leading)
    {
        try
        {
            await whileLeading(leading.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (leading.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Work run while leading failed; giving up leadership");
        }
        finally
        {
            // Leading work that ends on its own gives the lease up too, so another replica can do the work.
            await leading.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Tries every retry period until the lease is ours; false when cancelled first.</summary>
    private async Task<bool> AcquireAsync(CancellationToken cancellationToken)
    {
        _logger.LogInformation("{Identity} is waiting to acquire lease {Lease}", _options.Identity, _lock.Describe());
        while (!cancellationToken.IsCancellationRequested)
        {
            if (await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false))
            {
                _logger.LogInformation("{Identity} acquired lease {Lease}", _options.Identity, _lock.Describe());
                return true;
            }

            if (!await DelayAsync(Jittered(_options.RetryPeriod), cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }

        return false;
    }

    private async Task RenewUntilLostAsync(CancellationToken cancellationToken)
    {
        var lastRenew = _time.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!await DelayAsync(_options.RetryPeriod, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            if (await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false))
            {
                lastRenew = _time.GetTimestamp();
            }
            else if (_time.GetElapsedTime(lastRenew) >= _options.RenewDeadline)
            {
                _logger.LogWarning("{Identity} could not renew lease {Lease} within {Deadline}; stopping leading work",
                    _options.Identity, _lock.Describe(), _options.RenewDeadline);
                return;
            }
        }
    }

    private async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        // One attempt may not outlive the renew deadline, or a hung request would keep a lost leader working.
        using var attempt = new CancellationTokenSource(_options.RenewDeadline, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attempt.Token);
        try
        {
            return await TryAcquireOrRenewCoreAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("Lease {Lease} request timed out", _lock.Describe());
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Lease {Lease} request failed", _lock.Describe());
            return false;
        }
    }

    private async Task<bool> TryAcquireOrRenewCoreAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var leaseSeconds = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds);
        LeaderElectionRecord current;
        try
        {
            current = await _lock.GetAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            var created = new LeaderElectionRecord
            {
                HolderIdentity = _options.Identity,
                LeaseDurationSeconds = leaseSeconds,
                AcquireTime = now,
                RenewTime = now,
                LeaderTransitions = 0,
            };
            if (!await _lock.CreateAsync(created, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            Observe(created);
            return true;
        }

        if (!SameRecord(current, _observedRecord))
        {
            Observe(current);
        }

        var heldByOther = !string.IsNullOrEmpty(current.HolderIdentity) && current.HolderIdentity != _options.Identity;
        var observedFor = _time.GetElapsedTime(_observedAt);
        var duration = current.LeaseDurationSeconds > 0 ? TimeSpan.FromSeconds(current.LeaseDurationSeconds) : _options.LeaseDuration;
        if (heldByOther && observedFor < duration)
        {
            return false;
        }

        var mine = current.HolderIdentity == _options.Identity;
        var next = new LeaderElectionRecord
        {
            HolderIdentity = _options.Identity,
            LeaseDurationSeconds = leaseSeconds,
            AcquireTime = mine && current.AcquireTime is not null ? current.AcquireTime : now,
            RenewTime = now,
            LeaderTransitions = mine ? current.LeaderTransitions : current.LeaderTransitions + 1,
        };
        if (!await _lock.UpdateAsync(next, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        Observe(next);
        return true;
    }

    private async Task ReleaseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.RenewDeadline, _time);
            var current = await _lock.GetAsync(timeout.Token).ConfigureAwait(false);
            if (current.HolderIdentity != _options.Identity)
            {
                return;
            }

            var now = _time.GetUtcNow().UtcDateTime;
            var released = new LeaderElectionRecord
            {
                HolderIdentity = "",
                LeaseDurationSeconds = 1,
                AcquireTime = now,
                RenewTime = now,
                LeaderTransitions = current.LeaderTransitions,
            };
            if (await _lock.UpdateAsync(released, timeout.Token).ConfigureAwait(false))
            {
                _logger.LogInformation("{Identity} released lease {Lease}", _options.Identity, _lock.Describe());
            }
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Releasing lease {Lease} failed; peers take over after it expires", _lock.Describe());
        }
    }

    private void Observe(LeaderElectionRecord record)
    {
        _observedRecord = record;
        _observedAt = _time.GetTimestamp();
    }

    private void SetLeader(bool leading)
    {
        _isLeader = leading;
        LeadershipChanged?.Invoke(leading);
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    // client-go waits RetryPeriod * (1 + up to 1.2) between acquire attempts so candidates do not collide.
    private static TimeSpan Jittered(TimeSpan period) => period + (period * 1.2 * Random.Shared.NextDouble());

    private static bool SameRecord(LeaderElectionRecord a, LeaderElectionRecord? b) =>
        b is not null && a.HolderIdentity == b.HolderIdentity && a.RenewTime == b.RenewTime
        && a.AcquireTime == b.AcquireTime && a.LeaderTransitions == b.LeaderTransitions
        && a.LeaseDurationSeconds == b.LeaseDurationSeconds;
}
