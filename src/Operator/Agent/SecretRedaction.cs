using System.Collections;
using System.Text.RegularExpressions;

namespace Ferry.Operator.Agent;

/// <summary>
/// Masks secrets in training output before it leaves the pod in a post-mortem or a copied log: the values of the
/// process's environment variables whose names say they are secret (`*SECRET*`, `*TOKEN*`, `*PASSWORD*`,
/// `*CREDENTIAL*`, `*API_KEY*`, `*PRIVATE_KEY*`), AWS access key ids, bearer tokens, and `password=…`-style
/// assignments. What is masked becomes `***`. The pod's own output (`kubectl logs`) is left as the process wrote it.
/// </summary>
public sealed partial class SecretRedaction
{
    /// <summary>What replaces a secret.</summary>
    public const string Mask = "***";

    // Shorter values (a "1", a "true") would mask ordinary words.
    private const int MinimumSecretLength = 6;

    private readonly string[] _values;

    /// <summary>Masks the values of <paramref name="environment"/>'s secret-named variables and the patterns above.</summary>
    public SecretRedaction(IEnumerable<KeyValuePair<string, string>> environment)
    {
        _values = [.. environment
            .Where(p => SecretName().IsMatch(p.Key) && p.Value.Length >= MinimumSecretLength)
            .Select(p => p.Value)
            .Distinct(StringComparer.Ordinal)
            .OrderByDescending(v => v.Length)];
    }

    /// <summary>The redaction for this process's environment plus <paramref name="extra"/> (e.g. `spec.env`).</summary>
    public static SecretRedaction ForProcess(IEnumerable<KeyValuePair<string, string>>? extra = null)
    {
        var variables = new List<KeyValuePair<string, string>>();
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables.Add(new((string)entry.Key, (string?)entry.Value ?? ""));
        }

        return new SecretRedaction(variables.Concat(extra ?? []));
    }

    /// <summary><paramref name="line"/> with every secret masked.</summary>
    public string Apply(string line)
    {
        foreach (var value in _values)
        {
            line = line.Replace(value, Mask, StringComparison.Ordinal);
        }

        line = AccessKeyId().Replace(line, Mask);
        line = Bearer().Replace(line, "${prefix}" + Mask);
        return Assignment().Replace(line, "${prefix}" + Mask);
    }

    [GeneratedRegex("SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", RegexOptions.CultureInvariant)]
    private static partial Regex AccessKeyId();

    [GeneratedRegex(@"(?<prefix>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Bearer();

    [GeneratedRegex(@"(?<prefix>\b(?:password|passwd|secret|api[_-]?key|access[_-]?token|secret[_-]?access[_-]?key|session[_-]?token)\s*[=:]\s*)[^\s,;""']+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Assignment();
}
