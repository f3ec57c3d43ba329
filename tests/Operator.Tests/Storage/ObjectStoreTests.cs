using Ferry.Operator.Storage;
using Ferry.Operator.Tests.Fixtures;

namespace Ferry.Operator.Tests.Storage;

[Collection(MotoCollection.Name)]
public sealed class ObjectStoreTests(MotoS3 moto) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("ferry-store-").FullName;

    public void Dispose() => Directory.Delete(_scratch, true);

    [Fact]
    public async Task S3_lists_sorted_relative_keys_across_pages()
    {
        var bucket = await moto.CreateBucketAsync();
        var keys = Enumerable.Range(0, 23).Select(i => $"data/part-{i:D3}.bin").Reverse().ToArray();
        foreach (var key in keys)
        {
            await moto.PutTextAsync(bucket, key, key);
        }

        await moto.PutTextAsync(bucket, "database/other.bin", "not under data/");
        using var client = moto.CreateClient();
        using var store = new S3ObjectStore(ObjectLocation.Parse($"s3://{bucket}/data"), client, pageSize: 5);

        var listed = await store.ListAsync(CancellationToken.None);

        Assert.Equal(keys.Select(k => k["data/".Length..]).Order(StringComparer.Ordinal), listed.Select(o => o.Key));
        Assert.All(listed, o => Assert.Equal("data/".Length + o.Key.Length, o.Size));
    }

    [Fact]
    public async Task S3_upload_then_download_round_trips_bytes()
    {
        var bucket = await moto.CreateBucketAsync();
        var source = Path.Combine(_scratch, "blob.bin");
        var bytes = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(bytes);
        await File.WriteAllBytesAsync(source, bytes);
        using var factory = new ObjectStoreFactory(moto.Settings);
        using var store = factory.Open($"s3://{bucket}/prefix/");

        await store.UploadAsync(source, "nested/blob.bin", CancellationToken.None);
        await store.DownloadAsync("nested/blob.bin", Path.Combine(_scratch, "out/blob.bin"), CancellationToken.None);

        Assert.Equal(["prefix/nested/blob.bin"], await moto.KeysAsync(bucket));
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(_scratch, "out/blob.bin")));
    }

    [Fact]
    public async Task S3_uri_naming_one_object_lists_that_object()
    {
        var bucket = await moto.CreateBucketAsync();
        await moto.PutTextAsync(bucket, "sets/train.csv", "1,2,3");
        using var factory = new ObjectStoreFactory(moto.Settings);
        using var store = factory.Open($"s3://{bucket}/sets/train.csv");

        var listed = await store.ListAsync(CancellationToken.None);
        await ObjectTransfer.DownloadAsync(store, listed, _scratch, CancellationToken.None);

        Assert.Equal(["train.csv"], listed.Select(o => o.Key));
        Assert.Equal("1,2,3", await File.ReadAllTextAsync(Path.Combine(_scratch, "train.csv")));
    }

    [Fact]
    public async Task Upload_directory_with_a_tracker_sends_only_changed_files()
    {
        var bucket = await moto.CreateBucketAsync();
        var directory = Path.Combine(_scratch, "checkpoints");
        Directory.CreateDirectory(Path.Combine(directory, "sub"));
        await File.WriteAllTextAsync(Path.Combine(directory, "a.pt"), "1");
        await File.WriteAllTextAsync(Path.Combine(directory, "sub/b.pt"), "2");
        using var factory = new ObjectStoreFactory(moto.Settings);
        using var store = factory.Open($"s3://{bucket}/ckpt");
        var tracker = new UploadTracker();

        var first = await ObjectTransfer.UploadDirectoryAsync(store, directory, CancellationToken.None, tracker);
        var second = await ObjectTransfer.UploadDirectoryAsync(store, directory, CancellationToken.None, tracker);
        await File.WriteAllTextAsync(Path.Combine(directory, "a.pt"), "11");
        var third = await ObjectTransfer.UploadDirectoryAsync(store, directory, CancellationToken.None, tracker);

        Assert.Equal((2, 0, 1), (first, second, third));
        Assert.Equal(["ckpt/a.pt", "ckpt/sub/b.pt"], await moto.KeysAsync(bucket));
        Assert.Equal("11"u8.ToArray(), await moto.GetBytesAsync(bucket, "ckpt/a.pt"));
    }

    [Fact]
    public async Task File_store_lists_downloads_and_uploads_like_s3()
    {
        var source = Path.Combine(_scratch, "src");
        Directory.CreateDirectory(Path.Combine(source, "d"));
        await File.WriteAllTextAsync(Path.Combine(source, "b.txt"), "b");
        await File.WriteAllTextAsync(Path.Combine(source, "d/a.txt"), "a");
        using var factory = new ObjectStoreFactory(new S3Settings());
        using var store = factory.Open("file://" + source);

        var listed = await store.ListAsync(CancellationToken.None);
        await store.UploadAsync(Path.Combine(source, "b.txt"), "copies/b2.txt", CancellationToken.None);
        await store.DownloadAsync("d/a.txt", Path.Combine(_scratch, "dst/a.txt"), CancellationToken.None);

        Assert.Equal(["b.txt", "d/a.txt"], listed.Select(o => o.Key));
        Assert.Equal("b", await File.ReadAllTextAsync(Path.Combine(source, "copies/b2.txt")));
        Assert.Equal("a", await File.ReadAllTextAsync(Path.Combine(_scratch, "dst/a.txt")));
        await Assert.ThrowsAsync<ArgumentException>(() => store.UploadAsync(Path.Combine(source, "b.txt"), "../escape.txt", CancellationToken.None));
    }

    [Fact]
    public void Settings_from_environment_prefer_ferrys_endpoint_and_turn_on_path_style()
    {
        var variables = new Dictionary<string, string> { ["FERRY_S3_ENDPOINT"] = "http://s3.local:9000", ["AWS_ENDPOINT_URL_S3"] = "http://other", ["AWS_REGION"] = "eu-west-1" };
        var settings = S3Settings.FromEnvironment(name => variables.GetValueOrDefault(name));
        Assert.Equal(new S3Settings("http://s3.local:9000", true, "eu-west-1"), settings);
        Assert.Equal(new S3Settings(null, false, null), S3Settings.FromEnvironment(_ => null));
    }
}
