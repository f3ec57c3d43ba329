namespace Ferry.Operator.Storage;

/// <summary>One object under a location: its key relative to the location (with `/` separators), its size and when it was last written (null when unknown).</summary>
public sealed record StoredObject(string Key, long Size, DateTimeOffset? LastModified = null);
