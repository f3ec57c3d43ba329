using Amazon.Runtime;
using Ferry.Operator.SageMaker;
using Ferry.SageMakerEmulator;

namespace Ferry.SageMaker.Tests.Support;

/// <summary>A SageMaker emulator and a client of ours pointed at it, sharing one observed fake clock.</summary>
public sealed class EmulatorHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);

    private readonly List<SageMakerClient> _clients = [];

    private EmulatorHarness(SageMakerApiEmulator emulator, ObservedTimeProvider time)
    {
        Emulator = emulator;
        Time = time;
        Client = NewClient();
    }

    public SageMakerApiEmulator Emulator { get; }

    public ObservedTimeProvider Time { get; }

    public SageMakerClient Client { get; }

    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);

    public static async Task<EmulatorHarness> StartAsync(string region = "eu-west-1")
    {
        var time = new ObservedTimeProvider(Start);
        var emulator = await SageMakerApiEmulator.StartAsync(new SageMakerApiEmulatorOptions { TimeProvider = time, Region = region });
        return new EmulatorHarness(emulator, time);
    }

    /// <summary>A client of the emulator; by default with its test credentials and 4 attempts.</summary>
    public SageMakerClient NewClient(AWSCredentials? credentials = null, int maxAttempts = 4, string? region = null)
    {
        var client = new SageMakerClient(new SageMakerClientOptions
        {
            Region = region ?? Emulator.Options.Region,
            Endpoint = Emulator.BaseAddress,
            Credentials = credentials ?? new BasicAWSCredentials(SageMakerApiEmulator.TestCredentials.AccessKeyId, SageMakerApiEmulator.TestCredentials.SecretAccessKey),
            MaxAttempts = maxAttempts,
            TimeProvider = Time,
            AttemptTimeout = AttemptTimeout,
        });
        _clients.Add(client);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await Emulator.DisposeAsync();
    }
}
