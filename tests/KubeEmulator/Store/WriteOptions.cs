using Ferry.KubeEmulator.Schema;

namespace Ferry.KubeEmulator.Store;

/// <summary>Query options of a write: fieldManager, fieldValidation, dryRun, force.</summary>
public sealed record WriteOptions(string FieldManager, FieldValidationMode FieldValidation = FieldValidationMode.Warn, bool DryRun = false, bool Force = false)
{
    public static WriteOptions Default { get; } = new("ferry-kube-emulator");
}

/// <summary>How dependents are treated when their owner is deleted.</summary>
/// <remarks>https://kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion</remarks>
public enum PropagationPolicy { Background, Foreground, Orphan }

/// <summary>DeleteOptions: propagation, grace period and preconditions.</summary>
public sealed record DeleteOptions(PropagationPolicy? Propagation = null, long? GracePeriodSeconds = null, string? PreconditionUid = null,
    string? PreconditionResourceVersion = null, bool DryRun = false);

/// <summary>The result of a write: the stored object (or what would be stored on dry run) and any warnings.</summary>
public sealed record WriteResult(byte[] Json, StoredObject? Stored, IReadOnlyList<string> Warnings, bool Created = false, bool Accepted = false);
