using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Insight;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// Records what rank 0 reported while it runs: the values after the status' cursor join `status.metricHistory`
/// (bounded per metric), the latest finite value of each metric becomes `status.metrics` (with its step and epoch),
/// and the trainer's progress becomes `status.progress` (percent, ETA, epoch, step). Everything is derived from the
/// report and the recorded status, never from the clock, so passes between two reports write nothing: the number of
/// status writes from metrics is the number of reports (one per poll interval).
/// </summary>
public static class LiveMetricsPolicy
{
    /// <summary>The hyperparameter that says how many epochs a bring-your-own trainer runs.</summary>
    public const string EpochsHyperParameter = "epochs";

    /// <summary>The metric whose value is the current epoch (a default metric definition).</summary>
    public const string EpochMetric = "epoch";

    /// <summary>Merges rank 0's report of the current attempt into the status.</summary>
    public static void Record(DecisionContext c)
    {
        if (c.Current.FirstOrDefault(r => r.Index == 0 && r.Live is not null)?.Live is not { } report)
        {
            return;
        }

        var status = c.Status;
        var cursor = status.MetricSource is { } source && source.Replica == report.Replica ? source.Sequence : 0;
        var fresh = report.Points.Where(p => p.Sequence > cursor).OrderBy(p => p.Sequence).ToList();
        if (fresh.Count > 0)
        {
            var history = MetricHistoryCodec.Decode(status.MetricHistory);
            foreach (var point in fresh)
            {
                history.Add(point.Name, new MetricPoint(point.Value, DecisionContext.Truncate(point.Time.UtcDateTime), point.Step));
            }

            status.MetricHistory = MetricHistoryCodec.Encode(history, name => MetricHistoryCodec.KeptFor(name, c.Spec.Rules));
            status.MetricSource = new MetricSourceStatus { Replica = report.Replica, Sequence = fresh[^1].Sequence };
            var metrics = (status.Metrics ?? []).ToDictionary(m => m.Name, StringComparer.Ordinal);
            foreach (var point in fresh.Where(p => double.IsFinite(p.Value)))
            {
                metrics[point.Name] = new MetricValue
                {
                    Name = point.Name,
                    Value = point.Value,
                    Timestamp = DecisionContext.Truncate(point.Time.UtcDateTime),
                    Step = point.Step,
                    Epoch = point.Epoch,
                };
            }

            status.Metrics = [.. metrics.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];
        }

        if (Progress(c, report, fresh) is { } progress)
        {
            status.Progress = progress;
        }
    }

    /// <summary>A job that succeeded is 100 % done.</summary>
    public static void Complete(DecisionContext c)
    {
        if (c.Status.Phase == TrainingJobPhase.Succeeded && c.Status.Progress is { } progress)
        {
            progress.Percent = 100;
            progress.Eta = null;
        }
    }

    /// <summary>
    /// Progress from the trainer's own `progress` line, else from the epoch metric and the `epochs` hyperparameter;
    /// the ETA extrapolates the rate since the attempt started. Null when the report says nothing new about it.
    /// </summary>
    public static ProgressStatus? Progress(DecisionContext c, LiveReport report, IReadOnlyList<LivePoint> fresh)
    {
        ProgressStatus progress;
        if (report.Progress is { } line)
        {
            progress = new ProgressStatus { Epoch = line.Epoch, Epochs = line.Epochs, Step = line.Step, Steps = line.Steps, Time = DecisionContext.Truncate(line.Time.UtcDateTime) };
        }
        else if (fresh.LastOrDefault(p => p.Name == EpochMetric && double.IsFinite(p.Value) && p.Value >= 0) is { } epoch)
        {
            long? epochs = c.Spec.HyperParameters?.TryGetValue(EpochsHyperParameter, out var text) == true
                && long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
            progress = new ProgressStatus { Epoch = (long)epoch.Value, Epochs = epochs, Step = epoch.Step, Time = DecisionContext.Truncate(epoch.Time.UtcDateTime) };
        }
        else
        {
            return null;
        }

        double? fraction = progress.Steps is > 0 && progress.Step is { } step ? (double)step / progress.Steps.Value
            : progress.Epochs is > 0 && progress.Epoch is { } e ? (double)e / progress.Epochs.Value
            : null;
        if (fraction is { } f)
        {
            f = Math.Clamp(f, 0, 1);
            progress.Percent = (int)Math.Floor(f * 100);
            var began = c.Status.AttemptStartTime ?? c.Status.StartTime;
            if (began is { } start && progress.Time is { } at && f is > 0 and < 1)
            {
                var elapsed = DecisionContext.Utc(at) - DecisionContext.Utc(start);
                if (elapsed > TimeSpan.Zero)
                {
                    progress.Eta = TrainingJobStatus.FormatDuration(elapsed * ((1 - f) / f));
                }
            }
            else if (f >= 1)
            {
                progress.Eta = "0s";
            }
        }

        return progress;
    }
}
