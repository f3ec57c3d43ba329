using System.Diagnostics;
using Ferry.Operator.Agent;
using Ferry.Operator.Contract;
using Ferry.Operator.Reconciliation;

namespace Ferry.Operator.Backends.Local;

/// <summary>One line a replica printed (the agent's and the training process's stdout or stderr).</summary>
public sealed record LocalLogLine(int Attempt, int Rank, string Text, bool IsError);

/// <summary>
/// One replica of one attempt as processes on this machine: `ferry agent init`, then `ferry agent exec -- &lt;command&gt;`,
/// both with the environment the backend prepared (the container contract, FERRY_JOB, FERRY_OPT_ML = a fresh root).
/// The agent does the contract's I/O; this class starts, watches and stops the processes and reports what it sees.
/// </summary>
internal sealed class LocalReplicaProcess
{
    /// <summary>The exit code reported when the replica was stopped before it started training.</summary>
    public const int StoppedExitCode = 143;

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private ReplicaState _state = ReplicaState.Pending;
    private DateTimeOffset? _startedAt;
    private int? _exitCode;
    private DateTimeOffset? _finishedAt;
    private string? _message;

    private LocalReplicaProcess(string name, int index, int attempt, TimeProvider time)
    {
        Name = name;
        Index = index;
        Attempt = attempt;
        _time = time;
    }

    public string Name { get; }

    public int Index { get; }

    public int Attempt { get; }

    /// <summary>Completes when the replica's processes have exited.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    /// <summary>Whether a stop was requested.</summary>
    public bool StopRequested => _stop.IsCancellationRequested;

    /// <summary>Starts the replica; <paramref name="changed"/> is called on every state change.</summary>
    public static LocalReplicaProcess Start(
        string name, int index, int attempt, LocalReplicaLaunch launch, TimeProvider time, Action<LocalLogLine> onLine, Action changed)
    {
        var replica = new LocalReplicaProcess(name, index, attempt, time);
        replica.Completion = replica.RunAsync(launch, onLine, changed);
        return replica;
    }

    /// <summary>What the replica is doing, for the status function.</summary>
    public ReplicaObservation Observe()
    {
        lock (_gate)
        {
            return new ReplicaObservation(Name, Index, Attempt, _state,
                Terminating: _stop.IsCancellationRequested && !Completion.IsCompleted,
                StartedAt: _startedAt?.UtcDateTime,
                ExitCode: _exitCode)
            {
                Node = System.Environment.MachineName,
                FinishedAt = _finishedAt?.UtcDateTime,
                StoppedByRequest = _stop.IsCancellationRequested,
            }.WithTerminationMessage(_message);
        }
    }

    /// <summary>Asks the replica to stop: SIGTERM to its agent, which forwards it and kills the training process after the grace period.</summary>
    public void RequestStop()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }
    }

    private async Task RunAsync(LocalReplicaLaunch launch, Action<LocalLogLine> onLine, Action changed)
    {
        await Task.Yield();
        TerminationMessage termination;
        try
        {
            var initExit = await RunProcessAsync(launch, ["agent", "init"], onLine, isTraining: false);
            if (initExit != 0)
            {
                termination = new TerminationMessage(initExit, _stop.IsCancellationRequested
                    ? "stopped while the replica was being prepared"
                    : $"preparing replica {Index} failed (`ferry agent init` exited with {initExit}): see {launch.LogPath}");
            }
            else
            {
                lock (_gate)
                {
                    _state = ReplicaState.Running;
                    _startedAt = _time.GetUtcNow();
                }

                changed();
                var exit = await RunProcessAsync(launch, ["agent", "exec", "--", .. launch.Command], onLine, isTraining: true);
                var written = File.Exists(launch.TerminationLogPath)
                    ? TerminationMessage.Parse(await File.ReadAllTextAsync(launch.TerminationLogPath, CancellationToken.None), exit)
                    : null;
                termination = (written ?? new TerminationMessage(exit, exit == 0 ? null : $"the agent of replica {Index} exited with {exit} and wrote no termination message"))
                    with { ExitCode = exit };
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or UnauthorizedAccessException)
        {
            termination = new TerminationMessage(127, $"could not start replica {Index}: {e.Message}");
        }

        lock (_gate)
        {
            _state = termination.ExitCode == 0 ? ReplicaState.Succeeded : ReplicaState.Failed;
            _exitCode = termination.ExitCode;
            _finishedAt = _time.GetUtcNow();
            _message = termination.Serialize();
        }

        changed();
    }

    private async Task<int> RunProcessAsync(LocalReplicaLaunch launch, IReadOnlyList<string> agentArguments, Action<LocalLogLine> onLine, bool isTraining)
    {
        if (_stop.IsCancellationRequested)
        {
            return StoppedExitCode;
        }

        var commandLine = launch.Agent.CommandLine(agentArguments);
        await using var log = new StreamWriter(launch.LogPath, append: true) { AutoFlush = true };
        using var process = new Process
        {
            StartInfo = new ProcessStartInfo(commandLine[0])
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = launch.WorkingDirectory,
            },
        };
        foreach (var argument in commandLine.Skip(1))
        {
            process.StartInfo.ArgumentList.Add(argument);
        }

        process.StartInfo.Environment.Clear();
        foreach (var (name, value) in launch.Environment)
        {
            process.StartInfo.Environment[name] = value;
        }

        void Receive(string? text, bool isError)
        {
            if (text is null)
            {
                return;
            }

            lock (log)
            {
                log.WriteLine(text);
            }

            if (isTraining)
            {
                onLine(new LocalLogLine(Attempt, Index, text, isError));
            }
        }

        process.OutputDataReceived += (_, e) => Receive(e.Data, false);
        process.ErrorDataReceived += (_, e) => Receive(e.Data, true);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using (_stop.Token.Register(() => _ = StopProcessAsync(process, launch.StopGracePeriod)))
        {
            await process.WaitForExitAsync(CancellationToken.None);
        }

        // The asynchronous readers may still hold the last lines; this wait drains them.
        process.WaitForExit();
        return process.ExitCode;
    }

    // The agent forwards SIGTERM and kills the training process after its grace period; if the agent itself does
    // not end a little after that, the whole tree is killed.
    private async Task StopProcessAsync(Process process, TimeSpan grace)
    {
        try
        {
            if (process.HasExited)
            {
                return;
            }

            ProcessSignals.Terminate(process.Id);
            using var timeout = new CancellationTokenSource(grace + TimeSpan.FromSeconds(5), _time);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the checks.
        }
    }
}

/// <summary>Everything a replica's processes are started with.</summary>
internal sealed record LocalReplicaLaunch(
    ProgramPath Agent,
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory,
    string LogPath,
    string TerminationLogPath,
    TimeSpan StopGracePeriod)
{
    /// <summary>Where the replica's log and termination message go, next to its root.</summary>
    public static (string Log, string TerminationLog) Paths(string attemptDirectory, int index) =>
        (Path.Combine(attemptDirectory, ContainerContract.HostName(index) + ".log"),
         Path.Combine(attemptDirectory, ContainerContract.HostName(index) + ".termination-log"));
}
