using System.Text.Json;
using System.Text.Json.Serialization;
using Ferry.Trainer.Contract;
using Ferry.Trainer.Models;
using static TorchSharp.torch;

namespace Ferry.Trainer.Training;

/// <summary>What a checkpoint records besides the tensors.</summary>
public sealed record CheckpointHeader(int Epoch, long GlobalStep, ModelSpec Model, OptimizerKind Optimizer, long Seed, int WorldSize, int BatchSize);

/// <summary>
/// Per-epoch checkpoints <c>epoch-NNNN.ckpt</c> in the checkpoint directory, written by rank 0 through a temp file and
/// a rename so a crash never leaves a torn file. Layout: magic string, header JSON, model state (TorchSharp format),
/// optimiser state. The data order of an epoch derives from seed+epoch, so nothing else is needed to resume.
/// </summary>
public static class Checkpoints
{
    private const string Magic = "ferry-checkpoint/v1";
    private const string Prefix = "epoch-";
    private const string Extension = ".ckpt";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
    };

    /// <summary>Writes the checkpoint for a completed epoch and removes older ones.</summary>
    public static string Save(string directory, CheckpointHeader header, nn.Module model, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        Directory.CreateDirectory(directory);
        var name = $"{Prefix}{header.Epoch:D4}{Extension}";
        var final = Path.Combine(directory, name);
        var temp = Path.Combine(directory, $".{name}.{Environment.ProcessId}.tmp");
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(Magic);
            writer.Write(JsonSerializer.Serialize(header, Json));
            model.save(writer);
            optimizer.save_state_dict(writer);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, final, overwrite: true);
        foreach (var older in Directory.EnumerateFiles(directory, $"{Prefix}*{Extension}"))
        {
            if (EpochOf(older) is { } epoch && epoch < header.Epoch)
            {
                File.Delete(older);
            }
        }

        return final;
    }

    /// <summary>The checkpoint of the highest completed epoch, or null.</summary>
    public static string? FindLatest(string directory) =>
        Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, $"{Prefix}*{Extension}")
                .Where(f => EpochOf(f) is not null)
                .OrderByDescending(f => EpochOf(f))
                .FirstOrDefault()
            : null;

    /// <summary>Restores model and optimiser from checkpoint bytes after checking they fit this run.</summary>
    public static CheckpointHeader Restore(byte[] bytes, string source, nn.Module model, TorchSharp.Modules.OptimizerHelper optimizer, ModelSpec expectedModel, OptimizerKind expectedOptimizer)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        CheckpointHeader header;
        try
        {
            if (reader.ReadString() != Magic)
            {
                throw new TrainerConfigurationException($"checkpoint {source} is not a Ferry checkpoint; remove it or point checkpoint_dir elsewhere.");
            }

            header = JsonSerializer.Deserialize<CheckpointHeader>(reader.ReadString(), Json)
                ?? throw new TrainerConfigurationException($"checkpoint {source} has an empty header; remove it.");
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or IOException)
        {
            throw new TrainerConfigurationException($"checkpoint {source} is corrupt ({e.Message}); remove it to start from scratch.", e);
        }

        if (header.Model != expectedModel || header.Optimizer != expectedOptimizer)
        {
            throw new TrainerConfigurationException(
                $"checkpoint {source} was written for model '{header.Model}' with optimizer {header.Optimizer.ToString().ToLowerInvariant()}, but this run trains '{expectedModel}' with " +
                $"{expectedOptimizer.ToString().ToLowerInvariant()}; use the same model/optimizer/hidden_units, or a different checkpoint_dir.");
        }

        model.load(reader);
        optimizer.load_state_dict(reader);
        return header;
    }

    private static int? EpochOf(string path)
    {
        var name = Path.GetFileName(path);
        return name.StartsWith(Prefix, StringComparison.Ordinal) && name.EndsWith(Extension, StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(Prefix.Length, name.Length - Prefix.Length - Extension.Length), out var epoch)
            ? epoch
            : null;
    }
}
