using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Storage;

/// <summary>Where a job's artifacts land under `output.uri` — SageMaker's layout `&lt;uri&gt;/&lt;job&gt;/output/…`.</summary>
public static class ArtifactLocations
{
    /// <summary>File name of the packed `/opt/ml/model`.</summary>
    public const string ModelArchive = "model.tar.gz";

    /// <summary>File name of the packed `/opt/ml/output/data`.</summary>
    public const string OutputArchive = "output.tar.gz";

    /// <summary>File name of the training report.</summary>
    public const string ReportFile = "report.html";

    /// <summary>Key of the training report relative to `output.uri`, beside the model archive.</summary>
    public static string ReportKey(string jobName) => $"{jobName}/output/{ReportFile}";

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/output/report.html`.</summary>
    public static string ReportUri(string outputUri, string jobName) => Join(outputUri, ReportKey(jobName));

    /// <summary>Key of the model archive relative to `output.uri`.</summary>
    public static string ModelKey(string jobName) => $"{jobName}/output/{ModelArchive}";

    /// <summary>Key of the output-data archive relative to `output.uri`.</summary>
    public static string OutputKey(string jobName) => $"{jobName}/output/{OutputArchive}";

    /// <summary>
    /// Key of replica <paramref name="index"/>'s full log of attempt <paramref name="attempt"/> relative to `output.uri`:
    /// `&lt;job&gt;/attempt-N/algo-K.log` (K = index + 1, the replica's host name).
    /// </summary>
    public static string LogKey(string jobName, int attempt, int index) =>
        $"{AttemptLogsKey(jobName, attempt)}/{Contract.ContainerContract.HostName(index)}.log";

    /// <summary>Key of the folder holding attempt <paramref name="attempt"/>'s replica logs relative to `output.uri`.</summary>
    public static string AttemptLogsKey(string jobName, int attempt) =>
        $"{jobName}/attempt-{attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/attempt-N/`: where the logs of every replica of attempt N are copied.</summary>
    public static string AttemptLogsUri(string outputUri, string jobName, int attempt) => Join(outputUri, AttemptLogsKey(jobName, attempt) + "/");

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/attempt-N/algo-K.log`.</summary>
    public static string LogUri(string outputUri, string jobName, int attempt, int index) => Join(outputUri, LogKey(jobName, attempt, index));

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/output/model.tar.gz`.</summary>
    public static string ModelUri(string outputUri, string jobName) => Join(outputUri, ModelKey(jobName));

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/output/output.tar.gz`.</summary>
    public static string OutputUri(string outputUri, string jobName) => Join(outputUri, OutputKey(jobName));

    /// <summary>
    /// Where the agent puts a job's outputs (InCluster and Local): `&lt;output.uri&gt;/&lt;job&gt;/output`, the model
    /// archive in it, and `spec.checkpoint.uri`; null when the job names neither.
    /// </summary>
    public static ArtifactsStatus? For(TrainingJob job)
    {
        var output = job.Spec.Output?.Uri is { Length: > 0 } uri ? uri : null;
        var checkpoints = job.Spec.Checkpoint?.Uri;
        return output is null && checkpoints is null
            ? null
            : new ArtifactsStatus
            {
                Output = output is null ? null : Join(output, job.Metadata.Name + "/output"),
                Checkpoints = checkpoints,
                Model = output is null ? null : ModelUri(output, job.Metadata.Name),
            };
    }

    private static string Join(string uri, string key) => uri.TrimEnd('/') + "/" + key;
}
