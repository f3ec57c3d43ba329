using Ferry.Operator.Contract;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Agent;

/// <summary>
/// `ferry agent init`: prepares `/opt/ml` before the training process starts — the contract layout and
/// config files, each input channel downloaded (sharded per replica for `ShardedByS3Key`), and the
/// checkpoints of earlier attempts from `checkpoint.uri`.
/// </summary>
public sealed class AgentInit(ObjectStoreFactory stores, TextWriter log)
{
    /// <summary>Runs the steps above; returns 0, or throws with a message naming the failing field.</summary>
    public async Task<int> RunAsync(AgentJob job, AgentSettings settings, CancellationToken cancellationToken)
    {
        var replica = settings.ToContractReplica(job);
        await ContractWriter.WriteAsync(job.ToContractJob(), replica, cancellationToken);

        var listed = new List<InputReport>(job.Inputs.Count);
        for (var i = 0; i < job.Inputs.Count; i++)
        {
            var channel = job.Inputs[i];
            var field = $"spec.inputs[{i}].uri";
            using var store = stores.Open(channel.Uri, field);
            var all = await Named(field, channel.Uri, () => store.ListAsync(cancellationToken));
            var mine = ObjectSharding.Select(all, channel.Distribution, settings.ReplicaIndex, job.Replicas);
            var directory = ContainerContract.ChannelDirectory(settings.Root, channel.Name);
            await Named(field, channel.Uri, () => ObjectTransfer.DownloadAsync(store, mine, directory, cancellationToken));
            await log.WriteLineAsync($"ferry agent: channel {channel.Name}: {mine.Count} of {all.Count} objects from {channel.Uri} ({channel.Distribution})");
            listed.Add(new InputReport(channel.Name, all.Count, all.Sum(o => o.Size)));
        }

        await InputReport.WriteAsync(settings.Root, listed, cancellationToken);

        if (!string.IsNullOrEmpty(job.CheckpointUri))
        {
            using var store = stores.Open(job.CheckpointUri, "spec.checkpoint.uri");
            var count = await Named("spec.checkpoint.uri", job.CheckpointUri,
                () => ObjectTransfer.DownloadAllAsync(store, ContainerContract.PathOf(settings.Root, ContainerContract.CheckpointsDirectory), cancellationToken));
            await log.WriteLineAsync($"ferry agent: checkpoints: {count} files from {job.CheckpointUri}");
        }

        if (!OperatingSystem.IsWindows())
        {
            var granted = ShareWithGroup(settings.Root);
            await log.WriteLineAsync($"ferry agent: {settings.Root}: {granted} entries group-writable for the training user");
        }

        return 0;
    }

    /// <summary>
    /// Makes everything under <paramref name="root"/> group-readable and -writable, and its directories setgid, so the
    /// training container — another UID that shares the pod's fsGroup — can write its model, output and checkpoints
    /// and overwrite the checkpoints downloaded here. Returns how many entries it changed.
    /// </summary>
    /// <remarks>
    /// In a pod the root is an emptyDir the kubelet already gave to the fsGroup (group-owned, setgid), so everything
    /// created below inherits that group; only the mode bits, narrowed by the umask, need widening. The root itself may
    /// belong to another user (the kubelet): it is changed only when it is ours.
    /// </remarks>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static int ShareWithGroup(string root)
    {
        const UnixFileMode groupFile = UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        const UnixFileMode groupDirectory = groupFile | UnixFileMode.GroupExecute | UnixFileMode.SetGroup;
        var changed = 0;
        void Widen(FileSystemInfo entry, UnixFileMode wanted)
        {
            if (entry.LinkTarget is not null || (entry.UnixFileMode & wanted) == wanted)
            {
                return;
            }

            entry.UnixFileMode |= wanted;
            changed++;
        }

        var top = new DirectoryInfo(root);
        try
        {
            Widen(top, groupDirectory);
        }
        catch (UnauthorizedAccessException)
        {
            // Not our directory (the kubelet's emptyDir root): its mode is the kubelet's to set.
        }

        foreach (var entry in top.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            Widen(entry, entry is DirectoryInfo ? groupDirectory : groupFile);
        }

        return changed;
    }

    /// <summary>Runs a storage call; a storage error is rethrown naming the spec field and URI it came from.</summary>
    private static async Task<T> Named<T>(string field, string uri, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Amazon.Runtime.AmazonServiceException e)
        {
            throw new IOException($"{field} '{uri}': {e.Message} (check the bucket, the prefix and the pod's AWS permissions).", e);
        }
    }

    /// <summary>
    /// Copies the running program's own files (the operator's publish directory) to <paramref name="destination"/>,
    /// so the main container — which runs the user's image — can start the agent from a shared volume.
    /// </summary>
    public static int InstallSelf(string destination)
    {
        var source = AppContext.BaseDirectory;
        var copied = 0;
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(target, File.GetUnixFileMode(file));
            }

            copied++;
        }

        return copied;
    }
}
