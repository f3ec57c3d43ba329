using System.Text.Json;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Agent;

/// <summary>One input channel as `ferry agent init` listed it: how many objects and bytes are under its URI.</summary>
/// <param name="Name">The channel name.</param>
/// <param name="Objects">Objects under the channel's URI (all of them, not only this replica's shard).</param>
/// <param name="Bytes">Their total size.</param>
public sealed record InputReport(string Name, long Objects, long Bytes)
{
    /// <summary>
    /// Where `agent init` leaves the listing for `agent exec` (the two run in different containers of the pod, which
    /// share only `/opt/ml`): beside SageMaker's own config files; `agent exec` removes it before the training process
    /// starts.
    /// </summary>
    public const string FileName = "input/config/ferry-inputs.json";

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    /// <summary>Writes the channels' listing under <paramref name="root"/>.</summary>
    public static Task WriteAsync(string root, IReadOnlyList<InputReport> inputs, CancellationToken cancellationToken) =>
        File.WriteAllTextAsync(ContainerContract.PathOf(root, FileName), JsonSerializer.Serialize(inputs, Options), cancellationToken);

    /// <summary>
    /// The listing `agent init` left under <paramref name="root"/>, removed so that the training process sees exactly
    /// SageMaker's files; null when there is none (or it is unreadable).
    /// </summary>
    public static IReadOnlyList<InputReport>? Take(string root)
    {
        var path = ContainerContract.PathOf(root, FileName);
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            var inputs = JsonSerializer.Deserialize<InputReport[]>(File.ReadAllText(path), Options);
            File.Delete(path);
            return inputs;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            // Lineage is a record of the run, never a reason to fail it.
            return null;
        }
    }
}

/// <summary>The uploaded model archive: its size and the SHA-256 of its bytes.</summary>
public sealed record ModelDigest(long Size, string Sha256)
{
    /// <summary>Size and lowercase hex SHA-256 of <paramref name="path"/>.</summary>
    public static async Task<ModelDigest> OfAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        var hash = await System.Security.Cryptography.SHA256.HashDataAsync(stream, cancellationToken);
        return new ModelDigest(stream.Length, Convert.ToHexStringLower(hash));
    }
}
