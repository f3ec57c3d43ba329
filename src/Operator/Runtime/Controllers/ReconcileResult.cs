namespace Ferry.Operator.Runtime.Controllers;

/// <summary>What a reconcile asks of the controller: nothing more, a later look, or a retry after an error.</summary>
public abstract record ReconcileResult
{
    private ReconcileResult()
    {
    }

    /// <summary>The object is settled; no requeue until something changes.</summary>
    public static ReconcileResult Done { get; } = new DoneResult();

    /// <summary>Look again after <paramref name="delay"/> (e.g. to poll an external system).</summary>
    public static ReconcileResult RequeueAfter(TimeSpan delay) => new RequeueAfterResult(delay);

    /// <summary>
    /// Reconcile failed. Transient errors are retried with per-key exponential backoff; terminal ones (a bad spec
    /// the user must fix) are not retried until the object changes.
    /// </summary>
    public static ReconcileResult Error(Exception exception, bool transient = true) => new ErrorResult(exception, transient);

    /// <summary>The object is settled.</summary>
    public sealed record DoneResult : ReconcileResult;

    /// <summary>Look again after <see cref="Delay"/>.</summary>
    public sealed record RequeueAfterResult(TimeSpan Delay) : ReconcileResult;

    /// <summary>Reconcile failed with <see cref="Exception"/>.</summary>
    public sealed record ErrorResult(Exception Exception, bool Transient) : ReconcileResult;
}
