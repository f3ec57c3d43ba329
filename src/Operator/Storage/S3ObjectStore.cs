using Amazon;
using Amazon.S3;
using Amazon.S3.Model;

namespace Ferry.Operator.Storage;

/// <summary>An S3 prefix (`s3://bucket/prefix`) as an object store, over AWSSDK.S3.</summary>
public sealed class S3ObjectStore : IObjectStore
{
    private readonly IAmazonS3 _client;
    private readonly bool _ownsClient;
    private readonly int? _pageSize;
    private string? _singleObjectKey;

    /// <summary>
    /// Uses <paramref name="client"/> (not disposed by this store unless <paramref name="ownsClient"/>);
    /// <paramref name="pageSize"/> bounds each list request (S3's default is 1000).
    /// </summary>
    public S3ObjectStore(ObjectLocation location, IAmazonS3 client, bool ownsClient = false, int? pageSize = null)
    {
        _pageSize = pageSize;
        if (location.Scheme != "s3")
        {
            throw new ArgumentException($"'{location}' is not an s3:// location.", nameof(location));
        }

        Location = location;
        _client = client;
        _ownsClient = ownsClient;
    }

    /// <inheritdoc />
    public ObjectLocation Location { get; }

    /// <summary>Creates an S3 client for <paramref name="settings"/>.</summary>
    public static IAmazonS3 CreateClient(S3Settings settings)
    {
        var config = new AmazonS3Config { ForcePathStyle = settings.ForcePathStyle };
        if (settings.ServiceUrl is not null)
        {
            config.ServiceURL = settings.ServiceUrl;
            config.AuthenticationRegion = settings.Region ?? "us-east-1";
        }
        else if (settings.Region is not null)
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(settings.Region);
        }

        return Runtime.Telemetry.S3Telemetry.Attach(settings.Credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(settings.Credentials, config));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StoredObject>> ListAsync(CancellationToken cancellationToken)
    {
        var directoryPrefix = Location.Prefix.Length == 0 ? "" : Location.Prefix + "/";
        var objects = await ListKeysAsync(directoryPrefix, cancellationToken);
        var result = objects
            .Where(o => !o.Key.EndsWith('/'))
            .Select(o => new StoredObject(o.Key[directoryPrefix.Length..], o.Size ?? 0, Modified(o.LastModified)))
            .ToList();

        if (result.Count == 0 && Location.Prefix.Length > 0)
        {
            // The URI may name a single object (s3://bucket/data.csv): list it under its file name.
            var exact = (await ListKeysAsync(Location.Prefix, cancellationToken)).FirstOrDefault(o => o.Key == Location.Prefix);
            if (exact is not null)
            {
                _singleObjectKey = exact.Key;
                result.Add(new StoredObject(exact.Key[(exact.Key.LastIndexOf('/') + 1)..], exact.Size ?? 0, Modified(exact.LastModified)));
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return result;
    }

    /// <inheritdoc />
    public async Task DownloadAsync(string key, string destinationPath, CancellationToken cancellationToken)
    {
        var namesSingleObject = _singleObjectKey is not null
            && (_singleObjectKey == key || _singleObjectKey.EndsWith("/" + key, StringComparison.Ordinal));
        var fullKey = namesSingleObject ? _singleObjectKey! : FullKey(key);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destinationPath))!);
        using var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = Location.Bucket, Key = fullKey }, cancellationToken);
        await response.WriteResponseStreamToFileAsync(destinationPath, false, cancellationToken);
    }

    /// <inheritdoc />
    public async Task UploadAsync(string sourcePath, string key, CancellationToken cancellationToken)
    {
        await _client.PutObjectAsync(
            new PutObjectRequest { BucketName = Location.Bucket, Key = FullKey(key), FilePath = sourcePath },
            cancellationToken);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        // S3 answers 204 for a key that does not exist, so a repeated delete is harmless.
        await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = Location.Bucket, Key = FullKey(key) }, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    private string FullKey(string key) => Location.Prefix.Length == 0 ? key.TrimStart('/') : Location.Prefix + "/" + key.TrimStart('/');

    // The SDK gives the time in local time (or unset, as the minimum); a time without zone is taken as UTC.
    private static DateTimeOffset? Modified(DateTime? time) => time switch
    {
        null => null,
        { } t when t == default => null,
        { Kind: DateTimeKind.Local } t => new DateTimeOffset(t).ToUniversalTime(),
        { } t => new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)),
    };

    private async Task<List<S3Object>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        var objects = new List<S3Object>();
        var request = new ListObjectsV2Request { BucketName = Location.Bucket, Prefix = prefix };
        if (_pageSize is { } pageSize)
        {
            request.MaxKeys = pageSize;
        }

        while (true)
        {
            var response = await _client.ListObjectsV2Async(request, cancellationToken);
            objects.AddRange(response.S3Objects ?? []);
            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken))
            {
                return objects;
            }

            request.ContinuationToken = response.NextContinuationToken;
        }
    }
}
