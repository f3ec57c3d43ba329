namespace Ferry.Operator.Storage;

/// <summary>Where a job's artifacts land under `output.uri` — SageMaker's layout `&lt;uri&gt;/&lt;job&gt;/output/…`.</summary>
public static class ArtifactLocations
{
    /// <summary>File name of the packed `/opt/ml/model`.</summary>
    public const string ModelArchive = "model.tar.gz";

    /// <summary>File name of the packed `/opt/ml/output/data`.</summary>
    public const string OutputArchive = "output.tar.gz";

    /// <summary>Key of the model archive relative to `output.uri`.</summary>
    public static string ModelKey(string jobName) => $"{jobName}/output/{ModelArchive}";

    /// <summary>Key of the output-data archive relative to `output.uri`.</summary>
    public static string OutputKey(string jobName) => $"{jobName}/output/{OutputArchive}";

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/output/model.tar.gz`.</summary>
    public static string ModelUri(string outputUri, string jobName) => Join(outputUri, ModelKey(jobName));

    /// <summary>`&lt;output.uri&gt;/&lt;job&gt;/output/output.tar.gz`.</summary>
    public static string OutputUri(string outputUri, string jobName) => Join(outputUri, OutputKey(jobName));

    private static string Join(string uri, string key) => uri.TrimEnd('/') + "/" + key;
}
