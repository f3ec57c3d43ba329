using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Tests.Fixtures;

/// <summary>A real S3 endpoint for tests: `moto_server` on a free loopback port, started once per test collection.</summary>
public sealed class MotoS3 : IAsyncLifetime
{
    private Process? _server;
    private int _bucketCounter;

    public string ServiceUrl { get; private set; } = "";

    /// <summary>Dummy credentials, path-style addressing, the moto endpoint.</summary>
    public S3Settings Settings => new(ServiceUrl, ForcePathStyle: true, Region: "us-east-1", Credentials: new BasicAWSCredentials("test", "test"));

    /// <summary>The environment variables a separate process (the agent binary) needs to reach this endpoint.</summary>
    public IReadOnlyDictionary<string, string> ProcessEnvironment => new Dictionary<string, string>
    {
        [S3Settings.EndpointVariable] = ServiceUrl,
        ["AWS_ACCESS_KEY_ID"] = "test",
        ["AWS_SECRET_ACCESS_KEY"] = "test",
        ["AWS_REGION"] = "us-east-1",
    };

    public async Task InitializeAsync()
    {
        var port = FreePort();
        ServiceUrl = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo("moto_server")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "-H", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        _server = Process.Start(start) ?? throw new InvalidOperationException("moto_server did not start; is it on PATH (pyenv python3 with moto)?");
        _server.OutputDataReceived += (_, _) => { };
        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(ServiceUrl + "/moto-api/");
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !_server.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public Task DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            _server.WaitForExit(10_000);
        }

        _server?.Dispose();
        return Task.CompletedTask;
    }

    public IAmazonS3 CreateClient() => S3ObjectStore.CreateClient(Settings);

    /// <summary>A fresh bucket per test so tests never see each other's objects.</summary>
    public async Task<string> CreateBucketAsync()
    {
        var name = $"bucket-{Interlocked.Increment(ref _bucketCounter)}-{Guid.NewGuid():N}"[..40];
        using var client = CreateClient();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = name });
        return name;
    }

    public async Task PutTextAsync(string bucket, string key, string text)
    {
        using var client = CreateClient();
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = text });
    }

    /// <summary>Uploads the files of <paramref name="directory"/> matching <paramref name="pattern"/> as <paramref name="prefix"/> + file name.</summary>
    public async Task PutFilesAsync(string bucket, string prefix, string directory, string pattern)
    {
        using var client = CreateClient();
        foreach (var file in Directory.GetFiles(directory, pattern))
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = prefix + Path.GetFileName(file), FilePath = file });
        }
    }

    public async Task<byte[]> GetBytesAsync(string bucket, string key)
    {
        using var client = CreateClient();
        using var response = await client.GetObjectAsync(bucket, key);
        using var memory = new MemoryStream();
        await response.ResponseStream.CopyToAsync(memory);
        return memory.ToArray();
    }

    public async Task<IReadOnlyList<string>> KeysAsync(string bucket, string prefix = "")
    {
        using var client = CreateClient();
        var response = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix });
        return [.. (response.S3Objects ?? []).Select(o => o.Key)];
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class MotoCollection : ICollectionFixture<MotoS3>
{
    public const string Name = "moto S3";
}
