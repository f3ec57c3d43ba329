namespace Ferry.Operator.Storage;

/// <summary>One object under a location: its key relative to the location (with `/` separators) and its size.</summary>
public sealed record StoredObject(string Key, long Size);
