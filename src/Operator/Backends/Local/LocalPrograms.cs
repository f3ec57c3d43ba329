using System.Net;
using System.Reflection;
using System.Net.Sockets;
using Ferry.Operator.Cli;

namespace Ferry.Operator.Backends.Local;

/// <summary>A program to start: the executable and the arguments that come before the program's own.</summary>
public sealed record ProgramPath(string FileName, IReadOnlyList<string> LeadingArguments)
{
    /// <summary>The whole command line as a list (executable first).</summary>
    public IReadOnlyList<string> CommandLine(params IEnumerable<string> arguments) => [FileName, .. LeadingArguments, .. arguments];
}

/// <summary>Finds the programs the Local backend starts: this program's agent, and the built trainer.</summary>
public static class LocalPrograms
{
    /// <summary>Environment variable naming the trainer: a path to <c>train.dll</c> or to an executable.</summary>
    public const string TrainerVariable = "FERRY_TRAINER";

    /// <summary>The solution file that marks the repository root.</summary>
    public const string SolutionFile = "Operator.sln";

    /// <summary>The <c>dotnet</c> host running this process, else the one the SDK names, else <c>dotnet</c> from PATH.</summary>
    public static string DotnetHost()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
    }

    /// <summary><c>dotnet ferry.dll</c>: this assembly, so the agent is exactly the code that launched it.</summary>
    public static ProgramPath Agent() => new(DotnetHost(), [typeof(AgentCommand).Assembly.Location]);

    /// <summary>
    /// The built trainer: <c>FERRY_TRAINER</c>, else <c>src/TrainerImage/bin/&lt;Configuration&gt;/net10.0/train.dll</c> under
    /// the repository root (found by walking up from the working directory, then from this program, for Operator.sln),
    /// this program's own configuration first, then Release, then Debug. Throws with the command that builds it when there is none.
    /// </summary>
    public static ProgramPath Trainer(Func<string, string?>? getVariable = null, string? workingDirectory = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        if (getVariable(TrainerVariable) is { Length: > 0 } configured)
        {
            var full = Path.GetFullPath(configured, workingDirectory ?? Directory.GetCurrentDirectory());
            if (!File.Exists(full))
            {
                throw new FileNotFoundException($"{TrainerVariable} is {configured}, which does not exist; point it at the trainer's train.dll or unset it.", full);
            }

            return FromPath(full);
        }

        var roots = new[] { workingDirectory ?? Directory.GetCurrentDirectory(), AppContext.BaseDirectory }
            .Select(RepositoryRoot)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .ToList();
        foreach (var root in roots)
        {
            foreach (var configuration in Configurations())
            {
                var candidate = Path.Combine(root, "src", "TrainerImage", "bin", configuration, "net10.0", "train.dll");
                if (File.Exists(candidate))
                {
                    return FromPath(candidate);
                }
            }
        }

        var where = roots.Count > 0 ? $"under {roots[0]}/src/TrainerImage/bin" : "(no Operator.sln found above the working directory)";
        throw new FileNotFoundException(
            $"the job has no spec.command, so it runs the built trainer, but there is none {where}: build it with `dotnet build -c Release src/TrainerImage`, or set {TrainerVariable} to its train.dll.");
    }

    // This program's own build configuration first (a Debug operator with a Debug trainer), then Release, then Debug.
    private static IEnumerable<string> Configurations()
    {
        var own = typeof(LocalPrograms).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration;
        return new[] { own, "Release", "Debug" }.OfType<string>().Where(c => c.Length > 0).Distinct(StringComparer.Ordinal);
    }

    /// <summary>The directory holding Operator.sln at or above <paramref name="start"/>, or null.</summary>
    public static string? RepositoryRoot(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, SolutionFile)))
            {
                return directory.FullName;
            }
        }

        return null;
    }

    /// <summary>
    /// A TCP port for MASTER_PORT that was free a moment ago, chosen outside the kernel's ephemeral range: a port the
    /// kernel hands out for `bind(0)` or an outgoing connection could be taken between this check and rank 0's
    /// rendezvous bind by the ranks' own ring listeners (which bind port 0), and rank 0 would fail with "address in use".
    /// </summary>
    public static int FreePort()
    {
        var (low, high) = EphemeralRange();
        // Below the ephemeral range when it leaves room (Linux: 32768–60999), else above it.
        var (from, to) = low - 10_000 >= 1024 ? (low - 10_000, low) : (high + 1, 65536);
        for (var i = 0; i < 200; i++)
        {
            var port = Random.Shared.Next(from, to);
            if (CanListen(port))
            {
                return port;
            }
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`), or IANA's 49152–65535.</summary>
    public static (int Low, int High) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var low)
                && int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var high) && low <= high)
            {
                return (low, high);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or not readable: the IANA range below.
        }

        return (49152, 65535);
    }

    // As the trainer's rendezvous listens: every address, IPv6 with IPv4 mapped; and IPv4 loopback.
    private static bool CanListen(int port)
    {
        try
        {
            using (var loopback = new TcpListener(IPAddress.Loopback, port))
            {
                loopback.Start();
            }

            using var any = new TcpListener(IPAddress.IPv6Any, port);
            any.Server.DualMode = true;
            any.Start();
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable)
        {
            return true; // no IPv6 here: the loopback check above is the one that counts
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static ProgramPath FromPath(string path) =>
        path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? new ProgramPath(DotnetHost(), [path]) : new ProgramPath(path, []);
}
