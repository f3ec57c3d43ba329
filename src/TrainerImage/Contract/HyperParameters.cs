using System.Globalization;
using System.Text.Json;

namespace Ferry.Trainer.Contract;

/// <summary>Which network to train.</summary>
public enum ModelKind
{
    Mlp,
    Cnn,
}

/// <summary>Which optimiser updates the parameters.</summary>
public enum OptimizerKind
{
    Sgd,
    Adam,
}

/// <summary>How the learning rate changes over the epochs.</summary>
public enum LearningRateSchedule
{
    /// <summary>learning_rate x (1 + cos(pi x (epoch - 1) / epochs)) / 2, set at the start of each epoch.</summary>
    Cosine,

    /// <summary>learning_rate throughout.</summary>
    Constant,
}

/// <summary>The trainer's hyperparameters, validated (SageMaker-style string map in, typed values out).</summary>
public sealed record HyperParameters
{
    /// <summary>Every hyperparameter name the trainer understands.</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "model", "optimizer", "learning_rate", "momentum", "batch_size", "global_batch_size", "epochs", "seed", "hidden_units",
        "log_interval", "max_train_samples", "max_test_samples", "threads", "checkpoint_dir", "weight_decay", "lr_schedule",
    ];

    public ModelKind Model { get; init; } = ModelKind.Cnn;

    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;

    public double LearningRate { get; init; } = 0.05;

    public double Momentum { get; init; } = 0.9;

    /// <summary>Samples per step on each rank.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Samples per step over all ranks together (each rank takes this / world size); 0 = unset, <see cref="BatchSize"/> applies.</summary>
    public int GlobalBatchSize { get; init; }

    /// <summary>
    /// The batch each rank trains on per step. With <see cref="GlobalBatchSize"/> set, a job gives the same global batch
    /// (hence the same optimisation) whatever its number of ranks.
    /// </summary>
    public int BatchSizePerRank(int worldSize)
    {
        if (GlobalBatchSize == 0)
        {
            return BatchSize;
        }

        if (GlobalBatchSize % worldSize != 0)
        {
            var lower = GlobalBatchSize / worldSize * worldSize;
            var suggestion = lower > 0 ? $"{lower} or {lower + worldSize}" : $"{worldSize}";
            throw new TrainerConfigurationException(
                $"hyperparameter global_batch_size={GlobalBatchSize} does not divide evenly over {worldSize} rank(s); use a multiple of {worldSize} (for example {suggestion}) or set batch_size (per rank) instead.");
        }

        return GlobalBatchSize / worldSize;
    }

    public int Epochs { get; init; } = 3;

    public long Seed { get; init; } = 42;

    /// <summary>Hidden width of the MLP (784-hidden-10).</summary>
    public int HiddenUnits { get; init; } = 256;

    /// <summary>Steps between two progress lines.</summary>
    public int LogInterval { get; init; } = 100;

    /// <summary>Use only the first N training samples; 0 = all.</summary>
    public int MaxTrainSamples { get; init; }

    /// <summary>Use only the first N test samples; 0 = all.</summary>
    public int MaxTestSamples { get; init; }

    /// <summary>Intra-op threads per rank.</summary>
    public int Threads { get; init; } = 1;

    public string? CheckpointDir { get; init; }

    public double WeightDecay { get; init; }

    public LearningRateSchedule LrSchedule { get; init; } = LearningRateSchedule.Cosine;

    /// <summary>The learning rate for a 1-based epoch: a pure function of the epoch, so a resumed run gets the same one.</summary>
    public double LearningRateAt(int epoch) => LrSchedule == LearningRateSchedule.Constant
        ? LearningRate
        : LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / Epochs));

    /// <summary>The values as given (after CLI overrides), for model.json and checkpoints.</summary>
    public IReadOnlyDictionary<string, string> Raw { get; init; } = new Dictionary<string, string>();

    /// <summary>Reads <c>hyperparameters.json</c> (when present), applies <c>--key value</c> arguments over it, and validates.</summary>
    public static HyperParameters Load(string? hyperParametersFile, IReadOnlyList<string> args, Action<string> warn)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (hyperParametersFile is not null && File.Exists(hyperParametersFile))
        {
            foreach (var (key, value) in ReadFile(hyperParametersFile))
            {
                values[key] = value;
            }
        }

        foreach (var (key, value) in ParseArguments(args))
        {
            values[key] = value;
        }

        return FromValues(values, warn);
    }

    /// <summary>Validates a string map; unknown names are reported through <paramref name="warn"/> and ignored.</summary>
    public static HyperParameters FromValues(IReadOnlyDictionary<string, string> values, Action<string> warn)
    {
        foreach (var key in values.Keys.Where(k => !Names.Contains(k)).Order(StringComparer.Ordinal))
        {
            warn($"unknown hyperparameter '{key}' ignored (known: {string.Join(", ", Names)})");
        }

        string? Get(string name) => values.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

        var optimizer = Choice(Get("optimizer"), "optimizer", OptimizerKind.Sgd);
        if (Get("batch_size") is not null && Get("global_batch_size") is not null)
        {
            throw new TrainerConfigurationException(
                $"hyperparameters batch_size='{Get("batch_size")}' and global_batch_size='{Get("global_batch_size")}' are both set; give only one: batch_size is per rank, global_batch_size is split evenly over the ranks.");
        }

        return new HyperParameters
        {
            Model = Choice(Get("model"), "model", ModelKind.Cnn),
            Optimizer = optimizer,
            LearningRate = Real(Get("learning_rate"), "learning_rate", optimizer == OptimizerKind.Adam ? 0.001 : 0.05, min: 0, exclusiveMin: true),
            Momentum = Real(Get("momentum"), "momentum", 0.9, min: 0, max: 1, exclusiveMax: true),
            BatchSize = Integer(Get("batch_size"), "batch_size", 64, min: 1),
            GlobalBatchSize = Integer(Get("global_batch_size"), "global_batch_size", 0, min: 1),
            Epochs = Integer(Get("epochs"), "epochs", 3, min: 1),
            Seed = Long(Get("seed"), "seed", 42),
            HiddenUnits = Integer(Get("hidden_units"), "hidden_units", 256, min: 1),
            LogInterval = Integer(Get("log_interval"), "log_interval", 100, min: 1),
            MaxTrainSamples = Integer(Get("max_train_samples"), "max_train_samples", 0, min: 0),
            MaxTestSamples = Integer(Get("max_test_samples"), "max_test_samples", 0, min: 0),
            Threads = Integer(Get("threads"), "threads", 1, min: 1, max: 1024),
            CheckpointDir = Get("checkpoint_dir"),
            WeightDecay = Real(Get("weight_decay"), "weight_decay", 0, min: 0),
            LrSchedule = Choice(Get("lr_schedule"), "lr_schedule", LearningRateSchedule.Cosine),
            Raw = new SortedDictionary<string, string>(values.ToDictionary(), StringComparer.Ordinal),
        };
    }

    /// <summary>SageMaker writes every value as a string, sometimes JSON-encoded (<c>"\"cnn\""</c>); numbers and booleans are accepted too.</summary>
    private static IEnumerable<KeyValuePair<string, string>> ReadFile(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new TrainerConfigurationException($"{path} is not valid JSON ({e.Message}); it must be an object mapping hyperparameter names to string values.", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new TrainerConfigurationException($"{path} must be a JSON object mapping hyperparameter names to string values, got a {document.RootElement.ValueKind}.");
            }

            var result = new List<KeyValuePair<string, string>>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var value = property.Value.ValueKind switch
                {
                    JsonValueKind.String => Unquote(property.Value.GetString()!),
                    JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => property.Value.GetRawText(),
                    JsonValueKind.Null => "",
                    _ => throw new TrainerConfigurationException($"{path}: hyperparameter '{property.Name}' must be a string, got a {property.Value.ValueKind}."),
                };
                result.Add(new(property.Name, value));
            }

            return result;
        }
    }

    private static string Unquote(string value)
    {
        var trimmed = value.Trim();
        if (trimmed.Length >= 2 && trimmed[0] == '"' && trimmed[^1] == '"')
        {
            try
            {
                return JsonSerializer.Deserialize<string>(trimmed) ?? value;
            }
            catch (JsonException)
            {
                return value;
            }
        }

        return value;
    }

    /// <summary>Parses <c>--key value</c> and <c>--key=value</c> pairs.</summary>
    public static IEnumerable<KeyValuePair<string, string>> ParseArguments(IReadOnlyList<string> args)
    {
        var result = new List<KeyValuePair<string, string>>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new TrainerConfigurationException($"unexpected argument '{arg}'; arguments are hyperparameters given as --name value (for example --epochs 5).");
            }

            var body = arg[2..];
            var equals = body.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                result.Add(new(body[..equals].Replace('-', '_'), body[(equals + 1)..]));
            }
            else if (i + 1 < args.Count)
            {
                result.Add(new(body.Replace('-', '_'), args[++i]));
            }
            else
            {
                throw new TrainerConfigurationException($"argument '{arg}' has no value; give it as --{body} <value>.");
            }
        }

        return result;
    }

    private static T Choice<T>(string? text, string name, T fallback)
        where T : struct, Enum
    {
        if (text is null)
        {
            return fallback;
        }

        foreach (var value in Enum.GetValues<T>())
        {
            if (string.Equals(value.ToString(), text, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        var allowed = string.Join("|", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));
        throw new TrainerConfigurationException($"hyperparameter {name}='{text}' is not allowed; use one of {allowed}.");
    }

    private static int Integer(string? text, string name, int fallback, int min, int max = int.MaxValue)
    {
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            var range = max == int.MaxValue ? $"an integer >= {min}" : $"an integer in {min}..{max}";
            throw new TrainerConfigurationException($"hyperparameter {name}='{text}' is not allowed; use {range} (default {fallback}).");
        }

        return value;
    }

    private static long Long(string? text, string name, long fallback)
    {
        if (text is null)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw new TrainerConfigurationException($"hyperparameter {name}='{text}' is not allowed; use an integer (default {fallback}).");
        }

        return value;
    }

    private static double Real(string? text, string name, double fallback, double min, double max = double.PositiveInfinity, bool exclusiveMin = false, bool exclusiveMax = false)
    {
        if (text is null)
        {
            return fallback;
        }

        var ok = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            && double.IsFinite(value)
            && (exclusiveMin ? value > min : value >= min)
            && (exclusiveMax ? value < max : value <= max);
        if (!ok)
        {
            var lower = exclusiveMin ? $"> {min.ToString(CultureInfo.InvariantCulture)}" : $">= {min.ToString(CultureInfo.InvariantCulture)}";
            var upper = double.IsPositiveInfinity(max) ? "" : exclusiveMax ? $" and < {max.ToString(CultureInfo.InvariantCulture)}" : $" and <= {max.ToString(CultureInfo.InvariantCulture)}";
            throw new TrainerConfigurationException($"hyperparameter {name}='{text}' is not allowed; use a number {lower}{upper} (default {fallback.ToString(CultureInfo.InvariantCulture)}).");
        }

        return value;
    }
}
