using System.Globalization;

namespace Ferry.Trainer.Training;

/// <summary>
/// The lines the default metric definitions and the <c>run</c> command parse (rank 0 only):
/// <c>epoch=2 step=900 train_loss=0.4123</c> every log_interval steps,
/// <c>epoch=2 step=936 train_loss=0.4011 val_loss=0.4410 val_accuracy=0.8512</c> at each epoch end, each followed by
/// <c>progress epoch=2/3 step=900/1404</c>.
/// </summary>
public sealed class MetricLog(TextWriter output, bool enabled, int epochs, long totalSteps)
{
    public void Train(int epoch, long step, double trainLoss)
    {
        if (!enabled)
        {
            return;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch={epoch} step={step} train_loss={trainLoss:F4}"));
        Progress(epoch, step);
    }

    public void EpochEnd(int epoch, long step, double trainLoss, double valLoss, double valAccuracy)
    {
        if (!enabled)
        {
            return;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch={epoch} step={step} train_loss={trainLoss:F4} val_loss={valLoss:F4} val_accuracy={valAccuracy:F4}"));
        Progress(epoch, step);
    }

    public void Info(string message)
    {
        if (enabled)
        {
            output.WriteLine(message);
        }
    }

    private void Progress(int epoch, long step)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"progress epoch={epoch}/{epochs} step={step}/{totalSteps}"));
        output.Flush();
    }
}
