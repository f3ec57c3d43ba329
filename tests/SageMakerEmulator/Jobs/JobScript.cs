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
