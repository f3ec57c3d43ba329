namespace Ferry.KubeEmulator.Store;

/// <summary>The type of a watch event.</summary>
/// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes</remarks>
public enum WatchEventType { Added, Modified, Deleted }

/// <summary>One committed change: the object after the change, and the object before it (for selector transitions).</summary>
public sealed record WatchEvent(long ResourceVersion, WatchEventType Type, ResourceCollection Collection, StoredObject Object, StoredObject? Previous);
