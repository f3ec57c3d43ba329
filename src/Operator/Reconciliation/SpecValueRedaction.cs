using Ferry.Crds.V1Alpha1;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Takes the values of <c>spec.env</c> and <c>spec.hyperParameters</c> out of a message a backend wrote, before it
/// reaches a log, an Event or the status: remote APIs quote refused values in their errors (SageMaker's
/// "Value '…' at 'hyperParameters' failed to satisfy constraint"), and those values may be credentials.
/// </summary>
public static class SpecValueRedaction
{
    /// <summary>Values (and lines of multi-line values) shorter than this are left alone: they are flags and numbers, not secrets.</summary>
    public const int MinimumLength = 6;

    /// <summary><paramref name="message"/> with every env and hyperparameter value of <paramref name="spec"/> replaced by the field it came from.</summary>
    public static string Redact(TrainingJobSpec? spec, string message)
    {
        if (spec is null || message.Length == 0)
        {
            return message;
        }

        var values = new List<(string Value, string Field)>();
        Collect(values, spec.Env, "spec.env");
        Collect(values, spec.HyperParameters, "spec.hyperParameters");
        // Longest first, so a value that contains another is replaced whole.
        foreach (var (value, field) in values.OrderByDescending(v => v.Value.Length))
        {
            message = message.Replace(value, $"<{field} value>", StringComparison.Ordinal);
        }

        return message;
    }

    private static void Collect(List<(string, string)> values, IDictionary<string, string>? map, string prefix)
    {
        foreach (var (key, value) in map ?? new Dictionary<string, string>())
        {
            var field = $"{prefix}.{key}";
            foreach (var part in value.Split(['\n', '\r'], StringSplitOptions.RemoveEmptyEntries).Prepend(value).Distinct(StringComparer.Ordinal))
            {
                if (part.Trim().Length >= MinimumLength)
                {
                    values.Add((part, field));
                }
            }
        }
    }
}
