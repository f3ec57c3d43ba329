using Ferry.KubeEmulator;
using Ferry.KubeEmulator.Kubelet;

// Standalone: dotnet run --project tests/KubeEmulator [--kubeconfig PATH] [--crd DIR_OR_FILE]... [--port N]
//   [--kubelet-run-seconds N] [--kubelet-fail POD_NAME_PATTERN]... [--kubelet-containers ENGINE] [--authorization rbac] [--service-account NAMESPACE/NAME]...
const string Usage = "usage: ferry-kube-emulator [--kubeconfig PATH] [--crd DIR_OR_FILE]... [--port N] [--kubelet-run-seconds N] [--kubelet-fail POD_NAME_PATTERN]... [--kubelet-containers ENGINE] [--authorization rbac|always-allow] [--service-account NAMESPACE/NAME]...";
string? kubeconfig = null;
var crds = new List<string>();
var port = 0;
double? kubeletRunSeconds = null;
var kubeletFailures = new List<string>();
string? kubeletEngine = null;
var authorization = Ferry.KubeEmulator.Authorization.AuthorizationMode.AlwaysAllow;
var serviceAccounts = new List<(string Namespace, string Name)>();
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
        case "--kubelet-run-seconds" when i + 1 < args.Length
            && double.TryParse(args[i + 1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            && seconds >= 0:
            kubeletRunSeconds = seconds;
            i++;
            break;
        case "--kubelet-run-seconds":
            Console.Error.WriteLine("--kubelet-run-seconds needs a number of seconds, 0 or more (e.g. --kubelet-run-seconds 3)");
            return 2;
        case "--kubelet-fail" when i + 1 < args.Length:
            kubeletFailures.Add(args[++i]);
            break;
        case "--kubelet-containers" when i + 1 < args.Length:
            kubeletEngine = args[++i];
            break;
        case "--authorization" when i + 1 < args.Length && args[i + 1] is "rbac" or "always-allow":
            authorization = args[++i] == "rbac" ? Ferry.KubeEmulator.Authorization.AuthorizationMode.Rbac : Ferry.KubeEmulator.Authorization.AuthorizationMode.AlwaysAllow;
            break;
        case "--authorization":
            Console.Error.WriteLine("--authorization needs rbac or always-allow (e.g. --authorization rbac)");
            return 2;
        case "--service-account" when i + 1 < args.Length && args[i + 1].Split('/') is [{ Length: > 0 } saNamespace, { Length: > 0 } saName]:
            serviceAccounts.Add((saNamespace, saName));
            i++;
            break;
        case "--service-account":
            Console.Error.WriteLine("--service-account needs NAMESPACE/NAME (e.g. --service-account ferry-system/ferry)");
            return 2;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            Console.WriteLine("  --kubelet-run-seconds N         start the simulated kubelet: pods run N seconds, then their containers exit 0");
            Console.WriteLine("  --kubelet-fail POD_NAME_PATTERN  pods whose name matches the glob (* and ?) exit 1 instead (repeatable)");
            Console.WriteLine("  --kubelet-containers ENGINE      start the kubelet with pods run for real as containers of this engine (podman); see Kubelet/README.md");
            Console.WriteLine("  --authorization rbac             authenticate bearer tokens and authorize requests by RBAC (the printed kubeconfig is an administrator)");
            Console.WriteLine("  --service-account NS/NAME        also write a kubeconfig that authenticates as this ServiceAccount (repeatable)");
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'; {Usage}");
            return 2;
    }
}

// `dotnet run --project` runs in the project directory: resolve relative paths against the repository root too.
crds = crds.Select(Resolve).ToList();
await using var api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { CrdPaths = crds, Port = port, Authorization = authorization });
var path = kubeconfig is null ? api.KubeconfigPath : api.WriteKubeconfig(kubeconfig);
var serviceAccountKubeconfigs = serviceAccounts
    .Select(sa => api.WriteServiceAccountKubeconfig(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $"{Path.GetFileName(path)}.{sa.Namespace}.{sa.Name}"), sa.Namespace, sa.Name))
    .ToList();
await using var containers = kubeletEngine is null ? null : new ContainerPodRuntime(api, new ContainerPodRuntimeOptions { Engine = kubeletEngine, Log = Console.WriteLine });
if (containers is not null)
{
    api.Kubelet.Runtime = containers;
    api.Kubelet.Start();
}
else if (kubeletRunSeconds is not null || kubeletFailures.Count > 0)
{
    // Real seconds: the emulator runs on TimeProvider.System when standalone.
    var runFor = TimeSpan.FromSeconds(kubeletRunSeconds ?? 0);
    foreach (var pattern in kubeletFailures)
    {
        api.Kubelet.Script.When(pattern, runFor, exitCode: 1, message: $"simulated failure (--kubelet-fail {pattern})");
    }

    api.Kubelet.Script.Default = new PodScript("*", null, runFor, new ContainerOutcome(0));
    api.Kubelet.Start();
}

Console.WriteLine($"Kubernetes API emulator listening on {api.BaseAddress}");
if (containers is not null)
{
    Console.WriteLine($"container kubelet: pods run as {kubeletEngine} containers (host network, never pulls images)");
}
else if (api.Kubelet.IsRunning)
{
    Console.WriteLine($"simulated kubelet: pods run {kubeletRunSeconds ?? 0:0.###}s, then exit 0"
        + (kubeletFailures.Count > 0 ? $" (exit 1: {string.Join(", ", kubeletFailures)})" : ""));
}

Console.WriteLine($"kubeconfig: {path}");
Console.WriteLine($"  export KUBECONFIG={path}");
if (authorization == Ferry.KubeEmulator.Authorization.AuthorizationMode.Rbac)
{
    Console.WriteLine("authorization: RBAC (the kubeconfig above is an administrator in system:masters)");
}

foreach (var (sa, saPath) in serviceAccounts.Zip(serviceAccountKubeconfigs))
{
    Console.WriteLine($"kubeconfig for ServiceAccount {sa.Namespace}/{sa.Name}: {saPath}");
}
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

// Containers are stopped as a node drains (SIGTERM, the pods' grace periods) before the runtime removes what is left.
await api.Kubelet.StopAsync();

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
