using System.Security.Cryptography;
using System.Text;

namespace Ferry.Operator.SageMaker;

/// <summary>
/// The SageMaker training-job name of one attempt of a TrainingJob: <c>&lt;name&gt;-&lt;uid prefix&gt;-&lt;attempt&gt;</c>.
/// It is a pure function of the resource, so a restarted operator finds the job it created instead of creating another;
/// SageMaker names are unique per account and region forever, hence the attempt.
/// </summary>
public static class SageMakerJobName
{
    /// <summary>SageMaker's limit on training-job names.</summary>
    public const int MaxLength = 63;

    /// <summary>SageMaker's pattern for training-job names (matched against the whole name).</summary>
    public const string Pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$";

    private const int UidPrefixLength = 8;
    private const int HashLength = 8;

    /// <summary>
    /// The name for <paramref name="attempt"/> (1 for the first) of the resource named <paramref name="name"/> with UID
    /// <paramref name="uid"/>. A name too long to fit is cut and followed by a hash of the whole name, so two long names
    /// that share their first characters still get different job names.
    /// </summary>
    public static string For(string name, string uid, int attempt)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(uid);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var uidPrefix = new string(uid.Where(char.IsAsciiLetterOrDigit).Take(UidPrefixLength).ToArray()).ToLowerInvariant();
        if (uidPrefix.Length == 0)
        {
            throw new ArgumentException($"UID '{uid}' has no letters or digits to name a SageMaker job with.", nameof(uid));
        }

        var suffix = $"-{uidPrefix}-{attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        var cleaned = Clean(name);
        if (cleaned.Length + suffix.Length <= MaxLength)
        {
            return cleaned + suffix;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..HashLength];
        var room = MaxLength - suffix.Length - HashLength - 1;
        var kept = cleaned[..room].TrimEnd('-');
        return $"{kept}-{hash}{suffix}";
    }

    // Kubernetes names may hold '.' (not a TrainingJob's, but be safe); SageMaker takes letters, digits and '-',
    // starting with a letter or digit.
    private static string Clean(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        var cleaned = new string(chars).TrimStart('-');
        return cleaned.Length == 0 ? "job" : cleaned;
    }
}
