using Ferry.KubeEmulator;

// Standalone: dotnet run --project tests/KubeEmulator [--kubeconfig PATH] [--crd DIR_OR_FILE]... [--port N]
string? kubeconfig = null;
var crds = new List<string>();
var port = 0;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--kubeconfig" when i + 1 < args.Length:
            kubeconfig = args[++i];
            break;
        case "--crd" when i + 1 < args.Length:
            crds.Add(args[++i]);
            break;
        case "--port" when i + 1 < args.Length && int.TryParse(args[i + 1], out var p):
            port = p;
            i++;
            break;
        case "-h" or "--help":
            Console.WriteLine("usage: ferry-kube-emulator [--kubeconfig PATH] [--crd DIR_OR_FILE]... [--port N]");
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'; expected --kubeconfig PATH, --crd DIR_OR_FILE or --port N");
            return 2;
    }
}

// `dotnet run --project` runs in the project directory: resolve relative paths against the repository root too.
crds = crds.Select(Resolve).ToList();
await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = crds, Port = port });
var path = kubeconfig is null ? api.KubeconfigPath : api.WriteKubeconfig(kubeconfig);
Console.WriteLine($"Kubernetes API emulator listening on {api.BaseAddress}");
Console.WriteLine($"kubeconfig: {path}");
Console.WriteLine($"  export KUBECONFIG={path}");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, signal =>
{
    signal.Cancel = true;
    stop.Cancel();
});
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
    // Ctrl-C or SIGTERM.
}

return 0;

static string Resolve(string path)
{
    if (Path.IsPathRooted(path) || File.Exists(path) || Directory.Exists(path))
    {
        return Path.GetFullPath(path);
    }

    for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
    {
        var candidate = Path.Combine(dir.FullName, path);
        if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")) && (File.Exists(candidate) || Directory.Exists(candidate)))
        {
            return candidate;
        }
    }

    return path;
}
