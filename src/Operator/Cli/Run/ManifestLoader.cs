using System.Text.Json.Nodes;
using Ferry.Crds.Generation;
using Ferry.Crds.V1Alpha1;
using k8s;
using YamlDotNet.Core;
using Ferry.Crds.Serialization;

namespace Ferry.Operator.Cli.Run;

/// <summary>A manifest that <c>ferry run</c> refused, with the text to show (worded as kubectl would show it).</summary>
public sealed class InvalidManifestException(string message, IReadOnlyList<ApiFieldError>? errors = null) : Exception(message)
{
    /// <summary>The field errors, when the refusal came from validation.</summary>
    public IReadOnlyList<ApiFieldError> Errors { get; } = errors ?? [];
}

/// <summary>
/// Reads a TrainingJob manifest (YAML → JSON → <see cref="TrainingJob"/>), validated as the API server validates it
/// on create (<see cref="ManifestValidator"/> over the CRD schema generated from src/Crds), with defaults applied.
/// </summary>
public static class ManifestLoader
{
    private static readonly Lazy<JsonObject> Schema = new(CrdGenerator.RootSchema);

    /// <summary>Loads and validates the manifest at <paramref name="path"/>; throws <see cref="InvalidManifestException"/> naming the field and the fix.</summary>
    public static TrainingJob LoadFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidManifestException($"the manifest {path} does not exist; pass the path of a TrainingJob YAML file, e.g. config/samples/fashion-mnist-local.yaml.");
        }

        return Load(File.ReadAllText(path), path);
    }

    /// <summary>Loads and validates manifest text; <paramref name="source"/> names it in messages.</summary>
    public static TrainingJob Load(string yaml, string source)
    {
        IReadOnlyList<JsonNode?> documents;
        try
        {
            documents = ManifestYaml.ParseDocuments(yaml);
        }
        catch (YamlException e)
        {
            throw new InvalidManifestException($"error parsing {source}: line {e.Start.Line}, column {e.Start.Column}: {Innermost(e).Message}");
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner reports some malformed input this way, without a position.
            throw new InvalidManifestException($"error parsing {source}: {e.Message} The file is not valid YAML: check brackets, quotes and indentation.");
        }

        if (documents.Count != 1 || documents[0] is not JsonObject manifest)
        {
            throw new InvalidManifestException(documents.Count == 0
                ? $"{source} holds no YAML document; it must hold one TrainingJob."
                : documents.Count > 1
                    ? $"{source} holds {documents.Count} YAML documents; ferry run runs one TrainingJob: put the others in their own files."
                    : $"{source} is not a YAML mapping; it must hold one TrainingJob (apiVersion, kind, metadata, spec).");
        }

        var apiVersion = Text(manifest, "apiVersion");
        var kind = Text(manifest, "kind");
        if (apiVersion != TrainingJob.GroupVersion || kind != TrainingJob.KubeKind)
        {
            throw new InvalidManifestException(
                $"error when creating \"{source}\": no matches for kind \"{kind}\" in version \"{apiVersion}\": ferry run runs apiVersion: {TrainingJob.GroupVersion}, kind: {TrainingJob.KubeKind}.");
        }

        var result = ManifestValidator.Validate(manifest, Schema.Value);
        if (result.UnknownFields.Count > 0)
        {
            // kubectl's default field validation is Strict: unknown fields refuse the object.
            var fields = string.Join(", ", result.UnknownFields.Select(f => $"unknown field \"{f}\""));
            throw new InvalidManifestException(
                $"error when creating \"{source}\": {TrainingJob.KubeKind} in version \"{TrainingJob.Version}\" cannot be handled as a {TrainingJob.KubeKind}: strict decoding error: {fields}");
        }

        var name = Text(manifest["metadata"] as JsonObject, "name") ?? "";
        if (result.Errors.Count > 0)
        {
            throw new InvalidManifestException(InvalidText(name, result.Errors), result.Errors);
        }

        var job = KubernetesJson.Deserialize<TrainingJob>(result.Object.ToJsonString());
        if (job.Spec.Backend != TrainingJobBackend.Local)
        {
            var error = new ApiFieldError(ApiFieldErrorType.NotSupported, "spec.backend", JsonValue.Create(job.Spec.Backend.ToString()),
                $"ferry run runs backend Local only: set spec.backend: Local, or kubectl apply the manifest to run it with backend {job.Spec.Backend}");
            throw new InvalidManifestException(InvalidText(name, [error]), [error]);
        }

        job.Metadata.NamespaceProperty ??= "default";
        return job;
    }

    /// <summary>kubectl's wording of a 422: one error inline, several as a bulleted list.</summary>
    public static string InvalidText(string name, IReadOnlyList<ApiFieldError> errors) =>
        errors.Count == 1
            ? $"The {TrainingJob.KubeKind} \"{name}\" is invalid: {errors[0]}"
            : $"The {TrainingJob.KubeKind} \"{name}\" is invalid: \n" + string.Join("\n", errors.Select(e => "* " + e));

    private static string? Text(JsonObject? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;
}
