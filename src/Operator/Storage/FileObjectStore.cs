namespace Ferry.Operator.Storage;

/// <summary>A local directory as an object store (`file://` URIs; the Local backend and tests use it).</summary>
public sealed class FileObjectStore(ObjectLocation location) : IObjectStore
{
    /// <inheritdoc />
    public ObjectLocation Location { get; } = location.Scheme == "file"
        ? location
        : throw new ArgumentException($"'{location}' is not a file:// location.", nameof(location));

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredObject>> ListAsync(CancellationToken cancellationToken)
    {
        var root = Location.Prefix;
        if (File.Exists(root))
        {
            // A URI naming one file is a one-object listing, as an S3 URI naming one object.
            IReadOnlyList<StoredObject> single = [new StoredObject(Path.GetFileName(root), new FileInfo(root).Length, new FileInfo(root).LastWriteTimeUtc)];
            return Task.FromResult(single);
        }

        if (!Directory.Exists(root))
        {
            return Task.FromResult<IReadOnlyList<StoredObject>>([]);
        }

        IReadOnlyList<StoredObject> objects = Directory
            .EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(path => new StoredObject(Path.GetRelativePath(root, path).Replace('\\', '/'), new FileInfo(path).Length, new FileInfo(path).LastWriteTimeUtc))
            .OrderBy(o => o.Key, StringComparer.Ordinal)
            .ToArray();
        return Task.FromResult(objects);
    }

    /// <inheritdoc />
    public async Task DownloadAsync(string key, string destinationPath, CancellationToken cancellationToken)
    {
        var source = File.Exists(Location.Prefix) ? Location.Prefix : PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destinationPath))!);
        await using var input = File.OpenRead(source);
        await using var output = File.Create(destinationPath);
        await input.CopyToAsync(output, cancellationToken);
    }

    /// <inheritdoc />
    public async Task UploadAsync(string sourcePath, string key, CancellationToken cancellationToken)
    {
        var destination = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        var temporary = destination + ".ferry-upload";
        await using (var input = File.OpenRead(sourcePath))
        await using (var output = File.Create(temporary))
        {
            await input.CopyToAsync(output, cancellationToken);
        }

        File.Move(temporary, destination, overwrite: true);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private string PathOf(string key)
    {
        var path = Path.GetFullPath(Path.Combine(Location.Prefix, key));
        if (!path.StartsWith(Location.Prefix.TrimEnd('/') + "/", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Key '{key}' points outside '{Location}'.", nameof(key));
        }

        return path;
    }
}
