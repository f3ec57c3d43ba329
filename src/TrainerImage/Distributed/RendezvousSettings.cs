using System.Globalization;
using System.Text.Json;

namespace Ferry.Trainer.Distributed;

/// <summary>How the ranks exchange gradients.</summary>
public enum CollectiveTransport
{
    /// <summary>Shared memory when every rank is on this host and sees the same /dev/shm, otherwise the TCP ring.</summary>
    Auto,

    /// <summary>The TCP ring only.</summary>
    Tcp,

    /// <summary>Shared memory, failing at start-up when the ranks cannot share it.</summary>
    Shm,
}

/// <summary>Who this process is in the job and how to find rank 0, from torchrun or SageMaker variables.</summary>
public sealed record RendezvousSettings(string MasterHost, int MasterPort, int Rank, int WorldSize, TimeSpan Timeout, TimeSpan CollectiveTimeout, CollectiveTransport Transport = CollectiveTransport.Auto)
{
    /// <summary>Port used with SM_HOSTS when FERRY_RENDEZVOUS_PORT is not set (torchrun's default).</summary>
    public const int DefaultPort = 29500;

    /// <summary>A single process: no peers.</summary>
    public static RendezvousSettings Single { get; } = new("127.0.0.1", DefaultPort, 0, 1, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(300));

    /// <summary>
    /// torchrun style (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) wins when MASTER_ADDR is set; otherwise
    /// SageMaker style (SM_HOSTS, SM_CURRENT_HOST: rank = index, master = first host, port FERRY_RENDEZVOUS_PORT);
    /// otherwise a single process.
    /// </summary>
    public static RendezvousSettings FromEnvironment(Func<string, string?> env)
    {
        var timeout = Seconds(env, "FERRY_RENDEZVOUS_TIMEOUT_SECONDS", 300);
        var collectiveTimeout = Seconds(env, "FERRY_COLLECTIVE_TIMEOUT_SECONDS", 300);
        var transport = ParseTransport(env);
        var masterAddress = env("MASTER_ADDR");
        if (!string.IsNullOrWhiteSpace(masterAddress))
        {
            var worldSize = Integer(env, "WORLD_SIZE", 1, minimum: 1);
            var rank = Integer(env, "RANK", 0, minimum: 0);
            if (rank >= worldSize)
            {
                throw new TrainerConfigurationException($"RANK={rank} is not below WORLD_SIZE={worldSize}; set RANK to 0..{worldSize - 1}.");
            }

            var port = Integer(env, "MASTER_PORT", DefaultPort, minimum: 1, maximum: 65535);
            return new RendezvousSettings(masterAddress.Trim(), port, rank, worldSize, timeout, collectiveTimeout, transport);
        }

        var hostsJson = env("SM_HOSTS");
        if (!string.IsNullOrWhiteSpace(hostsJson))
        {
            string[] hosts;
            try
            {
                hosts = JsonSerializer.Deserialize<string[]>(hostsJson) ?? [];
            }
            catch (JsonException e)
            {
                throw new TrainerConfigurationException($"SM_HOSTS must be a JSON list of host names like [\"algo-1\",\"algo-2\"], got '{hostsJson}': {e.Message}");
            }

            if (hosts.Length == 0)
            {
                throw new TrainerConfigurationException("SM_HOSTS is an empty list; it must name every host, like [\"algo-1\",\"algo-2\"].");
            }

            var current = env("SM_CURRENT_HOST");
            if (string.IsNullOrWhiteSpace(current))
            {
                throw new TrainerConfigurationException($"SM_HOSTS is set ({hostsJson}) but SM_CURRENT_HOST is not; set it to this host's entry in SM_HOSTS.");
            }

            var rank = Array.IndexOf(hosts, current.Trim());
            if (rank < 0)
            {
                throw new TrainerConfigurationException($"SM_CURRENT_HOST '{current}' is not in SM_HOSTS {hostsJson}; it must be one of its entries.");
            }

            var port = Integer(env, "FERRY_RENDEZVOUS_PORT", DefaultPort, minimum: 1, maximum: 65535);
            return new RendezvousSettings(hosts[0], port, rank, hosts.Length, timeout, collectiveTimeout, transport);
        }

        return Single with { Timeout = timeout, CollectiveTimeout = collectiveTimeout, Transport = transport };
    }

    private static CollectiveTransport ParseTransport(Func<string, string?> env)
    {
        var text = env("FERRY_COLLECTIVE_TRANSPORT");
        if (string.IsNullOrWhiteSpace(text))
        {
            return CollectiveTransport.Auto;
        }

        if (!Enum.TryParse<CollectiveTransport>(text.Trim(), ignoreCase: true, out var transport) || !Enum.IsDefined(transport))
        {
            throw new TrainerConfigurationException($"FERRY_COLLECTIVE_TRANSPORT='{text}' is not allowed; use auto (shared memory between ranks on one host, TCP otherwise), tcp or shm, or unset it for auto.");
        }

        return transport;
    }

    private static TimeSpan Seconds(Func<string, string?> env, string name, int fallback)
    {
        var text = env(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return TimeSpan.FromSeconds(fallback);
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
        {
            throw new TrainerConfigurationException($"{name}='{text}' is not a positive number of seconds; unset it for the default {fallback}.");
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private static int Integer(Func<string, string?> env, string name, int fallback, int minimum, int maximum = int.MaxValue)
    {
        var text = env(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < minimum || value > maximum)
        {
            throw new TrainerConfigurationException($"{name}='{text}' is not an integer in {minimum}..{maximum}.");
        }

        return value;
    }
}
