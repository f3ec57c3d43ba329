using System.Globalization;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Contract;
using Ferry.Operator.Storage;

namespace Ferry.Operator.Backends.Local;

/// <summary>
/// How the Local backend runs a TrainingJob: the agent's view of the job (<see cref="AgentJob"/>, with every
/// <c>file://</c> URI made absolute), the training command line, and the job's working directory on this machine.
/// </summary>
/// <param name="Job">What the agent of each replica receives as <c>FERRY_JOB</c>.</param>
/// <param name="Command">The training process: <c>spec.command</c> + <c>spec.args</c>, or the built trainer.</param>
/// <param name="JobDirectory">Where each attempt's replica roots (stand-ins for /opt/ml) and logs go.</param>
/// <param name="WorkingDirectory">The directory relative paths were resolved against; replicas start there.</param>
public sealed record LocalJobPlan(AgentJob Job, IReadOnlyList<string> Command, string JobDirectory, string WorkingDirectory)
{
    /// <summary>The plan for <paramref name="job"/>; <paramref name="trainer"/> is asked for only when the job has no command.</summary>
    public static LocalJobPlan For(TrainingJob job, string workRoot, string workingDirectory, Func<ProgramPath> trainer)
    {
        var spec = job.Spec;
        var name = job.Metadata.Name;
        var mapped = AgentJobMapping.FromTrainingJob(job, defaultCpus: Math.Max(1, Environment.ProcessorCount / Math.Max(1, spec.Resources?.Replicas ?? 1)));

        // file://./relative URIs are resolved once, against the directory `ferry run` was started in.
        var agentJob = mapped with
        {
            Inputs = [.. mapped.Inputs.Select((c, i) => c with { Uri = Absolute(c.Uri, $"spec.inputs[{i}].uri", workingDirectory) })],
            OutputUri = mapped.OutputUri is null ? null : Absolute(mapped.OutputUri, "spec.output.uri", workingDirectory),
            CheckpointUri = mapped.CheckpointUri is null ? null : Absolute(mapped.CheckpointUri, "spec.checkpoint.uri", workingDirectory),
        };

        // SageMaker runs the image as `train`; here `train` is the trainer this repository builds.
        var userCommand = spec.Command is { Count: > 0 } command && !(command is ["train"]) ? command : null;
        IReadOnlyList<string> commandLine = userCommand is not null
            ? [.. userCommand, .. spec.Args ?? []]
            : trainer().CommandLine(spec.Args ?? []);
        return new LocalJobPlan(agentJob, commandLine, Path.GetFullPath(Path.Combine(workRoot, name)), workingDirectory);
    }

    /// <summary>The replica's stand-in for /opt/ml in attempt <paramref name="attempt"/>: a fresh directory, as a new container would be.</summary>
    public string ReplicaRoot(int attempt, int index) =>
        Path.Combine(AttemptDirectory(attempt), ContainerContract.HostName(index));

    /// <summary>The directory of one attempt.</summary>
    public string AttemptDirectory(int attempt) =>
        Path.Combine(JobDirectory, "attempt-" + attempt.ToString(CultureInfo.InvariantCulture));

    private static string Absolute(string uri, string field, string workingDirectory) =>
        uri.StartsWith("file://", StringComparison.Ordinal) ? ObjectLocation.Parse(uri, field, workingDirectory).ToString() : uri;
}
