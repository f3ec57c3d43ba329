using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Backends.Local;

/// <summary>What the Local backend knows about a replica when it asks for the command the replica trains with.</summary>
/// <param name="Attempt">The attempt (1-based).</param>
/// <param name="Index">The replica index (rank).</param>
/// <param name="Root">The replica's directory on this machine that stands in for /opt/ml.</param>
/// <param name="MasterPort">The attempt's MASTER_PORT.</param>
public sealed record LocalReplicaContext(int Attempt, int Index, string Root, int MasterPort);

/// <summary>
/// Container mode of the Local backend — SageMaker local mode for Ferry: the replica's training process is
/// <c>podman run</c> (or <c>docker run</c>) of <c>spec.image</c>, started by the replica's agent on this machine in
/// place of a host process. The agent still does the contract's I/O on the host (channels downloaded into the
/// replica's root before, the model packed and uploaded after), and the container sees what SageMaker gives a
/// training container: the replica's root mounted at <c>/opt/ml</c>, the <c>SM_*</c> and torchrun variables for
/// <c>/opt/ml</c>, the host names <c>algo-1..N</c> resolvable between replicas, and <c>train</c> as the command
/// (<c>spec.command</c>, when set, replaces the image's entrypoint as SageMaker's ContainerEntrypoint does).
/// </summary>
/// <remarks>
/// The replicas share the host's network (<c>--network=host</c>) with <c>algo-K</c> mapped to 127.0.0.1 by
/// <c>--add-host</c>, so the attempt's free MASTER_PORT and the trainer's ring ports work as in process mode.
/// The container runs as the user running <c>ferry run</c> (<c>--user</c>, plus <c>--userns=keep-id</c> under
/// rootless podman), so what it writes under the job directory belongs to that user and the next attempt can
/// remove it.
/// </remarks>
public sealed class ContainerReplicaCommand(ContainerEngine engine, string image, LocalJobPlan plan, TrainingJobSpec spec)
{
    /// <summary>The address every <c>algo-K</c> host name resolves to inside the containers.</summary>
    public const string HostAddress = "127.0.0.1";

    private readonly Lock _gate = new();
    private readonly HashSet<string> _names = [];

    /// <summary>The engine that runs the containers.</summary>
    public ContainerEngine Engine => engine;

    /// <summary>The image every replica runs.</summary>
    public string Image => image;

    /// <summary>The uid:gid the containers run as (this process's).</summary>
    public static string User => string.Create(CultureInfo.InvariantCulture, $"{UnixIds.UserId()}:{UnixIds.GroupId()}");

    /// <summary>The container of replica <paramref name="index"/> in <paramref name="attempt"/>: <c>ferry-&lt;job&gt;-&lt;attempt&gt;-algo-&lt;K&gt;</c>.</summary>
    public string ContainerName(int attempt, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"ferry-{plan.Job.JobName}-{attempt}-{ContainerContract.HostName(index)}");

    /// <summary>The command line the replica's agent runs: <c>&lt;engine&gt; run … &lt;image&gt; train …</c>.</summary>
    public IReadOnlyList<string> For(LocalReplicaContext replica)
    {
        var job = plan.Job;
        var hosts = ContainerContract.HostNames(job.Replicas);
        var name = ContainerName(replica.Attempt, replica.Index);
        lock (_gate)
        {
            _names.Add(name);
        }

        var arguments = new List<string>
        {
            engine.Executable, "run", "--rm", "--name", name, "--pull=never", "--network=host", "--user", User,
        };
        if (engine.IsPodman)
        {
            // The replica's own host name, as in SageMaker; docker refuses --hostname on the host's network.
            arguments.AddRange(["--hostname", hosts[replica.Index]]);

            // A container of the same name left by an earlier run that was killed is replaced, not a start-up failure.
            arguments.Add("--replace");
            if (UnixIds.UserId() != 0)
            {
                arguments.Add("--userns=keep-id");
            }
        }

        foreach (var host in hosts)
        {
            arguments.AddRange(["--add-host", $"{host}:{HostAddress}"]);
        }

        arguments.AddRange(["--volume", $"{replica.Root}:{ContainerContract.DefaultRoot}"]);

        // The contract as the container sees it: paths under /opt/ml, MASTER_ADDR the first host's name.
        var contract = new ContractReplica(replica.Index, ContainerContract.DefaultRoot, hosts, hosts[0], replica.MasterPort);
        foreach (var (variable, value) in ContainerContract.Environment(job.ToContractJob(), contract))
        {
            arguments.AddRange(["--env", $"{variable}={value}"]);
        }

        var command = AgentJobMapping.TrainingCommand(spec);
        if (spec.Command is { Count: > 0 } && !(spec.Command is [ContainerContract.DefaultCommand]))
        {
            arguments.AddRange(["--entrypoint", command[0], image, .. command.Skip(1)]);
        }
        else
        {
            arguments.AddRange([image, .. command]);
        }

        return arguments;
    }

    /// <summary>Removes the containers this run started that are still there (an agent killed after its grace period leaves its container running).</summary>
    public Task RemoveLeftoversAsync(CancellationToken cancellationToken)
    {
        List<string> names;
        lock (_gate)
        {
            names = [.. _names];
        }

        return engine.RemoveAsync(names, cancellationToken);
    }
}
