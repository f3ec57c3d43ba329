using Amazon.S3;

namespace Ferry.Operator.Storage;

/// <summary>Opens an <see cref="IObjectStore"/> for a URI: `s3://` through one shared S3 client, `file://` as a local directory.</summary>
public sealed class ObjectStoreFactory(S3Settings settings) : IDisposable
{
    private readonly Lazy<IAmazonS3> _s3 = new(() => S3ObjectStore.CreateClient(settings));

    /// <summary>A factory configured from the environment (<see cref="S3Settings.FromEnvironment"/>).</summary>
    public static ObjectStoreFactory FromEnvironment() => new(S3Settings.FromEnvironment());

    /// <summary>The store for <paramref name="uri"/>; <paramref name="field"/> names the spec field in errors.</summary>
    public IObjectStore Open(string uri, string field = "uri") => Open(ObjectLocation.Parse(uri, field));

    /// <summary>The store for <paramref name="location"/>.</summary>
    public IObjectStore Open(ObjectLocation location) => location.Scheme switch
    {
        "s3" => new S3ObjectStore(location, _s3.Value),
        "file" => new FileObjectStore(location),
        _ => throw new ArgumentException($"Unsupported scheme '{location.Scheme}'.", nameof(location)),
    };

    /// <inheritdoc />
    public void Dispose()
    {
        if (_s3.IsValueCreated)
        {
            _s3.Value.Dispose();
        }
    }
}
