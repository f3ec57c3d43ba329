namespace Ferry.SageMakerEmulator.Jobs;

/// <summary>How a simulated training job ends.</summary>
public enum JobOutcome
{
    Completed,
    Failed,
}

/// <summary>A spot interruption: after <see cref="AfterTraining"/> of training the instances are reclaimed for <see cref="Wait"/>.</summary>
public sealed record SpotInterruption(TimeSpan AfterTraining, TimeSpan Wait);

/// <summary>
/// A line the training container prints <see cref="AfterTraining"/> into training: on every instance, or only on
/// instance <see cref="Host"/> (<c>algo-&lt;Host&gt;</c>, from 1) when set.
/// </summary>
public sealed record LogLine(TimeSpan AfterTraining, string Message, int? Host = null);

/// <summary>What a simulated job does: how long each secondary status lasts, how it ends, and its final metrics.</summary>
public sealed record JobScript
{
    public TimeSpan Starting { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan Downloading { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Training { get; init; } = TimeSpan.FromMinutes(10);
    public TimeSpan Uploading { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long Stopping lasts after StopTrainingJob.</summary>
    public TimeSpan Stopping { get; init; } = TimeSpan.FromSeconds(30);

    public JobOutcome Outcome { get; init; } = JobOutcome.Completed;

    /// <summary>The FailureReason of a failed job (SageMaker's first line of /opt/ml/output/failure, or its own error).</summary>
    public string FailureReason { get; init; } = "AlgorithmError: ExecuteUserScriptError: Command \"train\" exited with code 1";

    /// <summary>Spot interruptions (only for jobs with EnableManagedSpotTraining).</summary>
    public IReadOnlyList<SpotInterruption> SpotInterruptions { get; init; } = [];

    /// <summary>The FinalMetricDataList of a finished job, by metric name.</summary>
    public IReadOnlyDictionary<string, double> FinalMetrics { get; init; } = new Dictionary<string, double>();

    /// <summary>What the training container prints, in CloudWatch Logs (<c>/aws/sagemaker/TrainingJobs</c>).</summary>
    public IReadOnlyList<LogLine> LogLines { get; init; } = [];

    /// <summary>
    /// Metric lines as Ferry's trainer prints them, for <paramref name="training"/>: every <paramref name="every"/> a
    /// `epoch=E step=S train_loss=L` line (the loss falls from about 2.3), and at the end of each of
    /// <paramref name="epochs"/> epochs a `val_loss=… val_accuracy=…` line, with `progress epoch=E/N step=S/T` lines.
    /// </summary>
    public static IReadOnlyList<LogLine> TrainingLog(TimeSpan training, TimeSpan every, int epochs = 4, int stepsPerLine = 100)
    {
        var lines = new List<LogLine>();
        var count = (int)(training / every);
        var perEpoch = Math.Max(count / Math.Max(epochs, 1), 1);
        var totalSteps = (long)count * stepsPerLine;
        for (var i = 1; i <= count; i++)
        {
            var at = every * i;
            var epoch = Math.Min((i - 1) / perEpoch + 1, epochs);
            var step = (long)i * stepsPerLine;
            var loss = 0.2 + 2.1 / (1 + 0.05 * i);
            lines.Add(new LogLine(at, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"epoch={epoch} step={step} train_loss={loss:0.0000}")));
            if (i % perEpoch == 0 && epoch <= epochs)
            {
                lines.Add(new LogLine(at, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"epoch={epoch} step={step} val_loss={loss + 0.05:0.0000} val_accuracy={0.9 - loss / 10:0.0000}")));
                lines.Add(new LogLine(at, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"progress epoch={epoch}/{epochs} step={step}/{totalSteps}")));
            }
        }

        return lines;
    }

    /// <summary>The share of the run billed for managed spot (SageMaker reports the discount as fewer billable seconds).</summary>
    public double SpotBillableFraction { get; init; } = 0.3;
}

/// <summary>Scripts by job-name glob (<c>*</c>, <c>?</c>); the first match wins, else <see cref="Default"/>.</summary>
public sealed class JobScriptBook
{
    private readonly List<(System.Text.RegularExpressions.Regex Pattern, JobScript Script)> _rules = [];

    /// <summary>The script of jobs no rule matches.</summary>
    public JobScript Default { get; set; } = new();

    /// <summary>Jobs whose name matches <paramref name="glob"/> follow <paramref name="script"/>.</summary>
    public JobScriptBook When(string glob, JobScript script)
    {
        var regex = "^" + System.Text.RegularExpressions.Regex.Escape(glob).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$";
        lock (_rules)
        {
            _rules.Add((new System.Text.RegularExpressions.Regex(regex), script));
        }

        return this;
    }

    /// <summary>The script for a job name.</summary>
    public JobScript For(string jobName)
    {
        lock (_rules)
        {
            foreach (var (pattern, script) in _rules)
            {
                if (pattern.IsMatch(jobName))
                {
                    return script;
                }
            }
        }

        return Default;
    }
}
