namespace Ferry.Operator.Storage;

/// <summary>
/// Objects under one <see cref="ObjectLocation"/> (an S3 prefix or a local directory), addressed by keys
/// relative to it. Implementations: <see cref="S3ObjectStore"/> and <see cref="FileObjectStore"/>.
/// </summary>
public interface IObjectStore : IDisposable
{
    /// <summary>The location the keys are relative to.</summary>
    ObjectLocation Location { get; }

    /// <summary>Every object under the location, sorted by key (ordinal), following pages as needed.</summary>
    Task<IReadOnlyList<StoredObject>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Writes object <paramref name="key"/> to <paramref name="destinationPath"/>, creating parent directories.</summary>
    Task DownloadAsync(string key, string destinationPath, CancellationToken cancellationToken);

    /// <summary>Stores the local file <paramref name="sourcePath"/> as object <paramref name="key"/>, replacing it.</summary>
    Task UploadAsync(string sourcePath, string key, CancellationToken cancellationToken);

    /// <summary>Removes object <paramref name="key"/>; an absent object is fine.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);
}
