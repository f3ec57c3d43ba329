using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Store;

namespace Ferry.KubeEmulator.Kubelet;

/// <summary>Settings of <see cref="ContainerPodRuntime"/>.</summary>
public sealed record ContainerPodRuntimeOptions
{
    /// <summary>The container engine's command (podman; docker's CLI takes the same flags used here).</summary>
    public string Engine { get; init; } = "podman";

    /// <summary>Where pods' volumes, hosts files and termination logs live (a fresh temporary directory when null; deleted on dispose).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Where `emptyDir.medium: Memory` volumes live: a directory on a tmpfs, shared by the pod's containers.</summary>
    public string MemoryDirectory { get; init; } = "/dev/shm";

    /// <summary>The cluster's DNS domain, for the headless Services' host names.</summary>
    public string ClusterDomain { get; init; } = "cluster.local";

    /// <summary>An upper bound on a pod's terminationGracePeriodSeconds when its containers are stopped (null: the pod's own).</summary>
    public TimeSpan? MaxGracePeriod { get; init; }

    /// <summary>Receives every line the containers print, as `pod/container: line`.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// Runs a pod's containers for real with a container engine (podman), as a kubelet on a node with host networking:
/// the image (never pulled: it must be in the local store), command/args with `$(VAR)` references, env with
/// `valueFrom` (fieldRef, secretKeyRef, configMapKeyRef), emptyDir volumes (`medium: Memory` on a tmpfs), the
/// securityContext's user, groups, fsGroup, capabilities and read-only root filesystem, the termination message
/// file, and SIGTERM + the pod's grace period when the pod is deleted. Every pod shares the host's network and binds
/// its own loopback pod IP (status.podIP); headless Services' DNS names (`hostname.subdomain.ns.svc.domain` and the
/// short names the pod's DNS search list makes) resolve through an /etc/hosts the runtime keeps current as pods get
/// their IPs. What it does not do is listed in tests/KubeEmulator/Kubelet/README.md.
/// </summary>
public sealed class ContainerPodRuntime : IPodRuntime, IAsyncDisposable
{
    /// <summary>The label on every container this runtime starts (value: the runtime's instance id).</summary>
    public const string InstanceLabel = "dev.ferry.kube-emulator.kubelet";

    // What a kubelet keeps of a termination message, and of the log when the policy falls back to it.
    private const int MaxMessageBytes = 4096;
    private const int MaxLogMessageBytes = 2048;
    private const int MaxLogMessageLines = 80;
    private const int MaxLogLines = 100_000;

    private readonly KubeApiEmulator _api;
    private readonly ContainerPodRuntimeOptions _options;
    private readonly string _work;
    private readonly bool _ownsWork;
    private readonly string _memory;
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];
    private readonly ConcurrentDictionary<string, PodSandbox> _sandboxes = new(StringComparer.Ordinal);
    private readonly Lock _hostsLock = new();

    public ContainerPodRuntime(KubeApiEmulator api, ContainerPodRuntimeOptions? options = null)
    {
        _api = api;
        _options = options ?? new ContainerPodRuntimeOptions();
        _ownsWork = _options.WorkDirectory is null;
        _work = _options.WorkDirectory ?? Directory.CreateTempSubdirectory("ferry-kubelet-").FullName;
        Directory.CreateDirectory(_work);
        _memory = Path.Combine(_options.MemoryDirectory, "ferry-kubelet-" + _instance);
        _api.Store.Committed += OnCommitted;
    }

    /// <summary>The lines the containers printed (the latest 100,000), as `pod/container: line`.</summary>
    public ConcurrentQueue<string> Logs { get; } = new();

    public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
    {
        var sandbox = _sandboxes.GetOrAdd((string)pod["metadata"]!["uid"]!, _ => new PodSandbox(pod, _work, _memory));
        Interlocked.Increment(ref sandbox.Running);
        try
        {
            return await RunAsync(sandbox, pod, container, cancellationToken);
        }
        finally
        {
            if (Interlocked.Decrement(ref sandbox.Running) == 0 && sandbox.Deleted)
            {
                sandbox.Remove(_sandboxes);
            }
        }
    }

    private async Task<ContainerOutcome> RunAsync(PodSandbox sandbox, JsonObject pod, JsonObject container, CancellationToken cancellationToken)
    {
        var containerName = (string)container["name"]!;
        var image = (string?)container["image"] ?? "";
        string[] arguments;
        try
        {
            await sandbox.PrepareAsync(pod, cancellationToken);
            WriteHosts(sandbox);
            arguments = await ArgumentsAsync(sandbox, pod, container, image, cancellationToken);
        }
        catch (ContainerConfigException e)
        {
            return new ContainerOutcome(128, e.Message, e.Reason);
        }

        var name = sandbox.ContainerName(containerName);
        await EngineAsync(["rm", "--force", "--ignore", name], CancellationToken.None);
        var log = new LogTail();
        var start = new ProcessStartInfo(_options.Engine) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("run");
        start.ArgumentList.Add("--name");
        start.ArgumentList.Add(name);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {_options.Engine}");
        process.OutputDataReceived += (_, e) => Log(sandbox.Name, containerName, e.Data, log);
        process.ErrorDataReceived += (_, e) => Log(sandbox.Name, containerName, e.Data, log);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // As a kubelet stops a deleted pod's container: SIGTERM, then SIGKILL once the grace period is over. A stop
            // that comes before the engine created the container finds nothing to stop, so it is repeated until the run ends.
            var grace = Text((long)sandbox.GracePeriod(_options.MaxGracePeriod).TotalSeconds);
            while (!process.HasExited)
            {
                await EngineAsync(["stop", "--time", grace, name], CancellationToken.None);
                using var retry = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                try
                {
                    await process.WaitForExitAsync(retry.Token);
                }
                catch (OperationCanceledException)
                {
                    // Not created yet when the stop came: stop again.
                }
            }

            await EngineAsync(["rm", "--force", "--ignore", name], CancellationToken.None);
            throw;
        }

        await process.WaitForExitAsync(CancellationToken.None);
        var (inspected, state, _) = await EngineAsync(["inspect", "--type", "container", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", name], CancellationToken.None);
        await EngineAsync(["rm", "--force", "--ignore", name], CancellationToken.None);
        if (inspected != 0 || state.Split(' ', StringSplitOptions.RemoveEmptyEntries) is not [var code, var oom] || !int.TryParse(code, CultureInfo.InvariantCulture, out var exitCode))
        {
            // The engine failed before the container ran (exit 125-127 of `podman run`): what a kubelet reports as a start error.
            return new ContainerOutcome(128, Truncate(log.Text(MaxLogMessageLines), MaxMessageBytes), "StartError");
        }

        return new ContainerOutcome(exitCode, Message(sandbox, container, exitCode, log), oom == "true" ? "OOMKilled" : null);
    }

    // The termination message: the file the container wrote to its terminationMessagePath, else (policy
    // FallbackToLogsOnError, failed container) the end of its log.
    private static string? Message(PodSandbox sandbox, JsonObject container, int exitCode, LogTail log)
    {
        var path = sandbox.TerminationLog((string)container["name"]!);
        var message = File.Exists(path) ? Truncate(File.ReadAllText(path), MaxMessageBytes) : "";
        if (message.Length == 0 && exitCode != 0 && (string?)container["terminationMessagePolicy"] == "FallbackToLogsOnError")
        {
            message = Truncate(log.Text(MaxLogMessageLines), MaxLogMessageBytes, fromEnd: true);
        }

        return message.Length == 0 ? null : message;
    }

    private async Task<string[]> ArgumentsAsync(PodSandbox sandbox, JsonObject pod, JsonObject container, string image, CancellationToken cancellationToken)
    {
        var spec = pod["spec"] as JsonObject ?? [];
        var podSecurity = spec["securityContext"] as JsonObject ?? [];
        var security = container["securityContext"] as JsonObject ?? [];
        var containerName = (string)container["name"]!;
        var (found, imageUser, _) = await EngineAsync(["image", "inspect", "--format", "{{.Config.User}}", image], cancellationToken);
        if (image.Length == 0 || found != 0)
        {
            throw new ContainerConfigException("ErrImageNeverPull",
                $"container {containerName}: image \"{image}\" is not in the local image store of {_options.Engine}, and this kubelet never pulls; build or load it first (make images)");
        }

        var arguments = new List<string>
        {
            "--pull=never", "--network=host", "--hostname", sandbox.HostName,
            "--label", $"{InstanceLabel}={_instance}",
            "--label", $"io.kubernetes.pod.name={sandbox.Name}",
            "--label", $"io.kubernetes.pod.namespace={sandbox.Namespace}",
            "--label", $"io.kubernetes.container.name={containerName}",
            "--volume", $"{sandbox.HostsFile}:/etc/hosts:ro",
        };

        // Identity: the container's securityContext wins over the pod's; runAsNonRoot is checked against the user that will run.
        var user = Long(security["runAsUser"]) ?? Long(podSecurity["runAsUser"]);
        var group = Long(security["runAsGroup"]) ?? Long(podSecurity["runAsGroup"]);
        if (user is not null)
        {
            arguments.AddRange(["--user", group is null ? Text(user.Value) : $"{Text(user.Value)}:{Text(group.Value)}"]);
        }

        if (((bool?)security["runAsNonRoot"] ?? (bool?)podSecurity["runAsNonRoot"]) == true)
        {
            CheckNonRoot(containerName, user, imageUser.Trim());
        }

        if (Long(podSecurity["fsGroup"]) is { } fsGroup)
        {
            arguments.AddRange(["--group-add", Text(fsGroup)]);
        }

        foreach (var supplemental in (podSecurity["supplementalGroups"] as JsonArray ?? []).Select(Long).OfType<long>())
        {
            arguments.AddRange(["--group-add", Text(supplemental)]);
        }

        foreach (var capability in (security["capabilities"]?["drop"] as JsonArray ?? []).Select(c => (string?)c).OfType<string>())
        {
            arguments.AddRange(["--cap-drop", capability]);
        }

        foreach (var capability in (security["capabilities"]?["add"] as JsonArray ?? []).Select(c => (string?)c).OfType<string>())
        {
            arguments.AddRange(["--cap-add", capability]);
        }

        if ((bool?)security["allowPrivilegeEscalation"] == false)
        {
            arguments.AddRange(["--security-opt", "no-new-privileges"]);
        }

        if ((bool?)security["privileged"] == true)
        {
            arguments.Add("--privileged");
        }

        if (((string?)security["seccompProfile"]?["type"] ?? (string?)podSecurity["seccompProfile"]?["type"]) == "Unconfined")
        {
            arguments.AddRange(["--security-opt", "seccomp=unconfined"]);
        }

        if ((bool?)security["readOnlyRootFilesystem"] == true)
        {
            // As on a node: only the root filesystem is read-only, the engine adds no writable /tmp.
            arguments.AddRange(["--read-only", "--read-only-tmpfs=false"]);
        }

        // Volumes, then the termination message file (a file the kubelet mounts at terminationMessagePath).
        foreach (var mount in (container["volumeMounts"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var volume = (string?)mount["name"] ?? "";
            var path = sandbox.VolumePath(volume)
                ?? throw new ContainerConfigException("CreateContainerConfigError",
                    $"container {containerName}: volumeMounts[{volume}] names no volume of the pod, or a volume type this kubelet does not run (only emptyDir)");
            if ((string?)mount["subPath"] is { Length: > 0 } subPath)
            {
                path = Path.Combine(path, subPath);
                Directory.CreateDirectory(path);
            }

            arguments.AddRange(["--volume", $"{path}:{(string)mount["mountPath"]!}{((bool?)mount["readOnly"] == true ? ":ro" : "")}"]);
        }

        var termination = sandbox.TerminationLog(containerName);
        await File.WriteAllTextAsync(termination, "", CancellationToken.None);
        SetMode(termination, (UnixFileMode)0b110_110_110);
        arguments.AddRange(["--volume", $"{termination}:{(string?)container["terminationMessagePath"] ?? "/dev/termination-log"}"]);

        // Environment in order, each value able to reference the ones before it, as a kubelet expands them.
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in (container["env"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var name = (string)variable["name"]!;
            var value = variable["valueFrom"] is JsonObject from
                ? ValueFrom(pod, containerName, name, from)
                : Expand((string?)variable["value"] ?? "", environment);
            if (value is not null)
            {
                environment[name] = value;
            }
        }

        foreach (var (name, value) in environment)
        {
            arguments.AddRange(["--env", $"{name}={value}"]);
        }

        if ((string?)container["workingDir"] is { Length: > 0 } workingDir)
        {
            arguments.AddRange(["--workdir", workingDir]);
        }

        // command replaces the image's ENTRYPOINT (and drops its CMD), args replace its CMD.
        var command = (container["command"] as JsonArray ?? []).Select(c => Expand((string?)c ?? "", environment)).ToList();
        var args = (container["args"] as JsonArray ?? []).Select(c => Expand((string?)c ?? "", environment)).ToList();
        if (command.Count > 0)
        {
            arguments.AddRange(["--entrypoint", JsonSerializer.Serialize(command)]);
        }

        arguments.Add(image);
        arguments.AddRange(args);
        return [.. arguments];
    }

    private static void CheckNonRoot(string container, long? user, string imageUser)
    {
        if (user is not null)
        {
            if (user == 0)
            {
                throw new ContainerConfigException("CreateContainerConfigError", $"container {container}: runAsNonRoot is set and runAsUser is 0; set securityContext.runAsUser to a non-zero UID");
            }

            return;
        }

        var name = imageUser.Split(':')[0];
        if (name.Length == 0 || name is "0" or "root")
        {
            throw new ContainerConfigException("CreateContainerConfigError", $"container {container}: container has runAsNonRoot and image will run as root; set securityContext.runAsUser or a USER in the image");
        }

        if (!long.TryParse(name, CultureInfo.InvariantCulture, out _))
        {
            throw new ContainerConfigException("CreateContainerConfigError", $"container {container}: container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root; set securityContext.runAsUser");
        }
    }

    // env[].valueFrom: the downward API's fields, and keys of Secrets and ConfigMaps in the pod's namespace.
    private string? ValueFrom(JsonObject pod, string container, string variable, JsonObject from)
    {
        var ns = (string?)pod["metadata"]?["namespace"] ?? "default";
        if (from["fieldRef"]?["fieldPath"] is JsonNode fieldPath)
        {
            var path = (string)fieldPath!;
            return path switch
            {
                "metadata.name" => (string?)pod["metadata"]?["name"],
                "metadata.namespace" => ns,
                "metadata.uid" => (string?)pod["metadata"]?["uid"],
                "spec.nodeName" => (string?)pod["spec"]?["nodeName"] ?? SimulatedKubelet.NodeName,
                "spec.serviceAccountName" => (string?)pod["spec"]?["serviceAccountName"] ?? "default",
                "status.podIP" => (string?)pod["status"]?["podIP"],
                "status.podIPs" => (string?)pod["status"]?["podIP"],
                "status.hostIP" or "status.hostIPs" => "127.0.0.1",
                _ when MapKey(path, "metadata.labels") is { } key => (string?)pod["metadata"]?["labels"]?[key] ?? "",
                _ when MapKey(path, "metadata.annotations") is { } key => (string?)pod["metadata"]?["annotations"]?[key] ?? "",
                _ => throw new ContainerConfigException("CreateContainerConfigError", $"container {container}: env {variable}: fieldRef.fieldPath \"{path}\" is not supported"),
            };
        }

        foreach (var (field, plural, isSecret) in new[] { ("secretKeyRef", "secrets", true), ("configMapKeyRef", "configmaps", false) })
        {
            if (from[field] is not JsonObject reference)
            {
                continue;
            }

            var name = (string?)reference["name"] ?? "";
            var key = (string?)reference["key"] ?? "";
            var optional = (bool?)reference["optional"] == true;
            var stored = _api.Store.Snapshot(_api.Registry.Find("", "v1", plural)!.Collection, ns).Items.FirstOrDefault(o => o.Name == name)?.ToJsonObject();
            var value = stored?["data"]?[key] is JsonNode data
                ? isSecret ? Encoding.UTF8.GetString(Convert.FromBase64String((string)data!)) : (string?)data
                : isSecret ? null : (string?)stored?["binaryData"]?[key];
            return value ?? (optional
                ? null
                : throw new ContainerConfigException("CreateContainerConfigError", $"container {container}: env {variable}: {field} {ns}/{name} has no key \"{key}\""));
        }

        throw new ContainerConfigException("CreateContainerConfigError", $"container {container}: env {variable}: only fieldRef, secretKeyRef and configMapKeyRef are supported in valueFrom");
    }

    private static string? MapKey(string path, string prefix) =>
        path.StartsWith(prefix + "['", StringComparison.Ordinal) && path.EndsWith("']", StringComparison.Ordinal) ? path[(prefix.Length + 2)..^2] : null;

    /// <summary>Expands `$(NAME)` references to variables defined before; `$$(NAME)` stays `$(NAME)`; unknown names stay as written.</summary>
    public static string Expand(string value, IReadOnlyDictionary<string, string> environment)
    {
        var result = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '$' && i + 1 < value.Length && value[i + 1] == '$')
            {
                result.Append('$');
                i++;
            }
            else if (value[i] == '$' && i + 1 < value.Length && value[i + 1] == '(' && value.IndexOf(')', i + 2) is var end and > 0
                && environment.TryGetValue(value[(i + 2)..end], out var replacement))
            {
                result.Append(replacement);
                i = end;
            }
            else
            {
                result.Append(value[i]);
            }
        }

        return result.ToString();
    }

    // The pods' /etc/hosts: kept current from the store, since the pods of one headless Service start at different times.
    private void OnCommitted(WatchEvent e)
    {
        if (e.Collection.Group.Length != 0 || e.Collection.Plural is not ("pods" or "services"))
        {
            return;
        }

        if (e.Collection.Plural == "pods" && e.Type == WatchEventType.Deleted && _sandboxes.TryGetValue(e.Object.Uid, out var deleted))
        {
            deleted.Deleted = true;
            if (Volatile.Read(ref deleted.Running) == 0)
            {
                deleted.Remove(_sandboxes);
            }
        }

        if (!_sandboxes.IsEmpty)
        {
            _ = Task.Run(() =>
            {
                foreach (var sandbox in _sandboxes.Values)
                {
                    WriteHosts(sandbox);
                }
            });
        }
    }

    private void WriteHosts(PodSandbox sandbox)
    {
        var pods = _api.Store.Snapshot(_api.Registry.Find("", "v1", "pods")!.Collection, sandbox.Namespace).Items;
        var services = _api.Store.Snapshot(_api.Registry.Find("", "v1", "services")!.Collection, sandbox.Namespace).Items;
        var text = EtcHosts(sandbox.Pod, pods.Select(p => p.ToJsonObject()).ToList(), services.Select(s => s.ToJsonObject()).ToList(), _options.ClusterDomain);
        lock (_hostsLock)
        {
            if (sandbox.Removed || text == sandbox.Hosts)
            {
                return;
            }

            try
            {
                // In place, not by rename: the file is bind-mounted into running containers. Written before it is cut
                // to length, so a reader never finds it empty.
                using var file = new FileStream(sandbox.HostsFile, FileMode.Open, FileAccess.Write);
                var bytes = Encoding.UTF8.GetBytes(text);
                file.Write(bytes);
                file.SetLength(bytes.Length);
                sandbox.Hosts = text;
            }
            catch (IOException)
            {
                // The pod's directory was removed meanwhile (the pod is gone).
            }
        }
    }

    /// <summary>
    /// The /etc/hosts of <paramref name="pod"/>: localhost, the pod's own names, and the records of the headless Service
    /// named by its subdomain (every pod of that subdomain with a hostname and an IP), each also under the shorter names
    /// the pod's DNS search list (spec.dnsConfig.searches, then `ns.svc.domain`, `svc.domain`, `domain`) resolves.
    /// </summary>
    /// <param name="pod">The pod whose file this is.</param>
    /// <param name="pods">The pods of its namespace, as stored.</param>
    /// <param name="services">The Services of its namespace, as stored.</param>
    /// <param name="clusterDomain">The cluster's DNS domain.</param>
    public static string EtcHosts(JsonObject pod, IReadOnlyList<JsonObject> pods, IReadOnlyList<JsonObject> services, string clusterDomain)
    {
        var uid = (string?)pod["metadata"]?["uid"];
        var ns = (string?)pod["metadata"]?["namespace"] ?? "default";
        var ownHostname = (string?)pod["spec"]?["hostname"] ?? (string?)pod["metadata"]?["name"];
        var ownSubdomain = (string?)pod["spec"]?["subdomain"];
        var searches = (pod["spec"]?["dnsConfig"]?["searches"] as JsonArray ?? []).Select(s => (string?)s).OfType<string>()
            .Concat([$"{ns}.svc.{clusterDomain}", $"svc.{clusterDomain}", clusterDomain]).ToList();
        var headless = ownSubdomain is not null
            && services.Any(s => (string?)s["metadata"]?["name"] == ownSubdomain && (string?)s["spec"]?["clusterIP"] == "None");
        var text = new StringBuilder("# Kubernetes-managed hosts file (the emulator's container kubelet).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        var entries = new List<(string Ip, string Fqdn)>();
        foreach (var other in pods)
        {
            var ip = (string?)other["status"]?["podIP"];
            var hostname = (string?)other["spec"]?["hostname"];
            var subdomain = (string?)other["spec"]?["subdomain"];
            if (ip is null || other["metadata"]?["deletionTimestamp"] is not null)
            {
                continue;
            }

            if ((string?)other["metadata"]?["uid"] == uid)
            {
                text.Append(subdomain is null ? $"{ip}\t{ownHostname}\n" : $"{ip}\t{ownHostname}.{subdomain}.{ns}.svc.{clusterDomain}\t{ownHostname}\n");
            }

            if (headless && hostname is not null && subdomain == ownSubdomain)
            {
                entries.Add((ip, $"{hostname}.{subdomain}.{ns}.svc.{clusterDomain}"));
            }
        }

        foreach (var (ip, fqdn) in entries.OrderBy(e => e.Fqdn, StringComparer.Ordinal))
        {
            var aliases = searches.Where(s => fqdn.EndsWith("." + s, StringComparison.Ordinal)).Select(s => fqdn[..^(s.Length + 1)]).Distinct(StringComparer.Ordinal);
            text.Append(CultureInfo.InvariantCulture, $"{ip}\t{string.Join(' ', aliases.Prepend(fqdn))}\n");
        }

        return text.ToString();
    }

    private void Log(string pod, string container, string? line, LogTail tail)
    {
        if (line is null)
        {
            return;
        }

        tail.Add(line);
        var entry = $"{pod}/{container}: {line}";
        Logs.Enqueue(entry);
        while (Logs.Count > MaxLogLines && Logs.TryDequeue(out _))
        {
            // Only the latest lines are kept.
        }

        _options.Log?.Invoke(entry);
    }

    private async Task<(int ExitCode, string Output, string Error)> EngineAsync(IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(_options.Engine) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {_options.Engine}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, (await output).Trim(), (await error).Trim());
    }

    private static string Truncate(string text, int maxBytes, bool fromEnd = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return bytes.Length <= maxBytes ? text
            : fromEnd ? Encoding.UTF8.GetString(bytes, bytes.Length - maxBytes, maxBytes)
            : Encoding.UTF8.GetString(bytes, 0, maxBytes);
    }

    private static long? Long(JsonNode? node) => node is JsonValue value && value.TryGetValue<long>(out var number) ? number : null;

    // Containers run on Linux; the guard only satisfies the platform analyzer.
    private static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Stops and removes every container this runtime started that is still there, and deletes its files.</summary>
    public async ValueTask DisposeAsync()
    {
        _api.Store.Committed -= OnCommitted;
        var (_, names, _) = await EngineAsync(["ps", "--all", "--filter", $"label={InstanceLabel}={_instance}", "--format", "{{.Names}}"], CancellationToken.None);
        foreach (var name in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await EngineAsync(["rm", "--force", "--time", "0", name], CancellationToken.None);
        }

        foreach (var sandbox in _sandboxes.Values)
        {
            sandbox.Remove(_sandboxes);
        }

        TryDelete(_memory);
        if (_ownsWork)
        {
            TryDelete(_work);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a file still held open by a stopping container.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort, as above.
        }
    }

    /// <summary>One pod's files on the node: its volumes, its hosts file and its containers' termination logs.</summary>
    private sealed class PodSandbox
    {
        private readonly string _directory;
        private readonly string _memoryDirectory;
        private readonly Dictionary<string, string> _volumes = new(StringComparer.Ordinal);
        private readonly SemaphoreSlim _prepare = new(1, 1);
        private readonly long _gracePeriodSeconds;
        private bool _prepared;

        internal int Running;

        internal PodSandbox(JsonObject pod, string work, string memory)
        {
            Pod = pod;
            Uid = (string)pod["metadata"]!["uid"]!;
            Name = (string)pod["metadata"]!["name"]!;
            Namespace = (string?)pod["metadata"]!["namespace"] ?? "default";
            HostName = (string?)pod["spec"]?["hostname"] ?? Name;
            _gracePeriodSeconds = Long(pod["spec"]?["terminationGracePeriodSeconds"]) ?? 30;
            _directory = Path.Combine(work, $"{Namespace}_{Name}_{Uid}");
            _memoryDirectory = Path.Combine(memory, Uid);
            HostsFile = Path.Combine(_directory, "etc-hosts");
            Directory.CreateDirectory(_directory);
            File.WriteAllText(HostsFile, "");
            SetMode(HostsFile, (UnixFileMode)0b110_100_100);
        }

        /// <summary>The pod as it was when its first container started.</summary>
        public JsonObject Pod { get; }

        public string Uid { get; }
        public string Name { get; }
        public string Namespace { get; }
        public string HostName { get; }
        public string HostsFile { get; }
        internal string? Hosts { get; set; }
        internal volatile bool Deleted;
        internal volatile bool Removed;

        internal string ContainerName(string container) => $"k8s_{container}_{Name}_{Namespace}_{Uid}";

        internal string TerminationLog(string container) => Path.Combine(_directory, container + ".termination-log");

        internal string? VolumePath(string volume) => _volumes.GetValueOrDefault(volume);

        internal TimeSpan GracePeriod(TimeSpan? max)
        {
            var grace = TimeSpan.FromSeconds(_gracePeriodSeconds);
            return max is { } limit && limit < grace ? limit : grace;
        }

        /// <summary>Makes the pod's emptyDir volumes once: world-writable as a kubelet makes them, owned by the fsGroup (setgid) when one is set.</summary>
        internal async Task PrepareAsync(JsonObject pod, CancellationToken cancellationToken)
        {
            await _prepare.WaitAsync(cancellationToken);
            try
            {
                if (_prepared)
                {
                    return;
                }

                var fsGroup = Long(pod["spec"]?["securityContext"]?["fsGroup"]);
                foreach (var volume in (pod["spec"]?["volumes"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    var name = (string)volume["name"]!;
                    if (volume["emptyDir"] is not JsonObject emptyDir)
                    {
                        continue;
                    }

                    var path = (string?)emptyDir["medium"] == "Memory" ? Path.Combine(_memoryDirectory, name) : Path.Combine(_directory, "volumes", name);
                    Directory.CreateDirectory(path);
                    if (fsGroup is not null)
                    {
                        await ChownAsync(path, fsGroup.Value);
                    }

                    SetMode(path, (UnixFileMode)(fsGroup is null ? 0b111_111_111 : 0b010_111_111_111));
                    _volumes[name] = path;
                }

                _prepared = true;
            }
            finally
            {
                _prepare.Release();
            }
        }

        private static async Task ChownAsync(string path, long group)
        {
            using var process = Process.Start(new ProcessStartInfo("chown", [$":{Text(group)}", path]) { UseShellExecute = false, RedirectStandardError = true })!;
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new ContainerConfigException("CreateContainerConfigError", $"could not give the volume {path} to the pod's fsGroup {group}: {error.Trim()}");
            }
        }

        internal void Remove(ConcurrentDictionary<string, PodSandbox> sandboxes)
        {
            Removed = true;
            sandboxes.TryRemove(Uid, out _);
            TryDelete(_directory);
            TryDelete(_memoryDirectory);
        }
    }

    /// <summary>The last lines a container printed (for FallbackToLogsOnError and start errors).</summary>
    private sealed class LogTail
    {
        private readonly Queue<string> _lines = new();

        public void Add(string line)
        {
            lock (_lines)
            {
                _lines.Enqueue(line);
                if (_lines.Count > MaxLogMessageLines)
                {
                    _lines.Dequeue();
                }
            }
        }

        public string Text(int lines)
        {
            lock (_lines)
            {
                return string.Join('\n', _lines.TakeLast(lines));
            }
        }
    }

    private sealed class ContainerConfigException(string reason, string message) : Exception(message)
    {
        public string Reason { get; } = reason;
    }
}
