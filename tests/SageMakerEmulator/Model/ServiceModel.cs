using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;

namespace Ferry.SageMakerEmulator.Model;

/// <summary>
/// An AWS service model as botocore ships it (<c>data/&lt;service&gt;/&lt;version&gt;/service-2.json[.gz]</c>):
/// operations, shapes and the protocol metadata. Found through the machine's <c>python3</c>; a missing model is an error.
/// </summary>
public sealed class ServiceModel
{
    private ServiceModel(string path, JsonObject document)
    {
        Path = path;
        Metadata = document["metadata"]!.AsObject();
        Operations = document["operations"]!.AsObject();
        Shapes = document["shapes"]!.AsObject();
    }

    /// <summary>The file the model was read from.</summary>
    public string Path { get; }

    public JsonObject Metadata { get; }

    public JsonObject Operations { get; }

    public JsonObject Shapes { get; }

    /// <summary>The <c>X-Amz-Target</c> prefix, e.g. <c>SageMaker</c>.</summary>
    public string TargetPrefix => (string)Metadata["targetPrefix"]!;

    /// <summary>The SigV4 service name, e.g. <c>sagemaker</c>.</summary>
    public string SigningName => (string?)Metadata["signingName"] ?? (string)Metadata["endpointPrefix"]!;

    /// <summary>The shape of a name.</summary>
    public JsonObject Shape(string name) => Shapes[name]?.AsObject() ?? throw new KeyNotFoundException($"shape {name} is not in {Path}");

    /// <summary>An operation's input shape name, or null when it takes none.</summary>
    public string? InputShape(string operation) => (string?)Operations[operation]?["input"]?["shape"];

    /// <summary>An operation's output shape name, or null when it returns none.</summary>
    public string? OutputShape(string operation) => (string?)Operations[operation]?["output"]?["shape"];

    /// <summary>Loads botocore's model of <paramref name="service"/> at <paramref name="apiVersion"/>.</summary>
    public static ServiceModel LoadBotocore(string service, string apiVersion) => Load(Locate(service, apiVersion));

    /// <summary>Loads a model file (<c>.json</c> or <c>.json.gz</c>).</summary>
    public static ServiceModel Load(string path)
    {
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        var document = JsonNode.Parse(stream)?.AsObject() ?? throw new InvalidDataException($"{path} is not a JSON object");
        return new ServiceModel(path, document);
    }

    /// <summary>The path of botocore's model file, from the <c>python3</c> on PATH (or <c>FERRY_BOTOCORE_DIR</c>).</summary>
    public static string Locate(string service, string apiVersion)
    {
        var botocore = Environment.GetEnvironmentVariable("FERRY_BOTOCORE_DIR") ?? BotocoreDirectory();
        return LocateIn(botocore, service, apiVersion);
    }

    /// <summary>The path of a model file under a botocore package directory; throws when there is none.</summary>
    public static string LocateIn(string botocore, string service, string apiVersion)
    {
        var directory = System.IO.Path.Combine(botocore, "data", service, apiVersion);
        foreach (var name in new[] { "service-2.json", "service-2.json.gz" })
        {
            var candidate = System.IO.Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException(
            $"botocore has no model of {service} {apiVersion}: neither service-2.json nor service-2.json.gz in {directory}. "
            + "Install botocore for the python3 on PATH (pip install botocore) or point FERRY_BOTOCORE_DIR at its package directory.");
    }

    private static string BotocoreDirectory()
    {
        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("import botocore, os; print(os.path.dirname(botocore.__file__))");
        using var python = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start: botocore's service models are found through it");
        var output = python.StandardOutput.ReadToEnd().Trim();
        var error = python.StandardError.ReadToEnd();
        python.WaitForExit();
        if (python.ExitCode != 0 || output.Length == 0)
        {
            throw new InvalidOperationException($"python3 could not import botocore (exit {python.ExitCode}): {error.Trim()}. Install botocore for the python3 on PATH.");
        }

        return output;
    }
}
