using Ferry.KubeEmulator.Errors;

namespace Ferry.KubeEmulator.Selectors;

/// <summary>A parsed <c>labelSelector</c>: equality-based (=, ==, !=) and set-based (in, notin, key, !key) requirements, ANDed.</summary>
/// <remarks>https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors</remarks>
public sealed class LabelSelector
{
    private readonly List<Requirement> _requirements;

    private LabelSelector(List<Requirement> requirements) => _requirements = requirements;

    /// <summary>Selects everything.</summary>
    public static LabelSelector Everything { get; } = new([]);

    public bool IsEmpty => _requirements.Count == 0;

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var r in _requirements)
        {
            var has = labels.TryGetValue(r.Key, out var value);
            var ok = r.Op switch
            {
                Operator.Equals => has && value == r.Values[0],
                Operator.NotEquals => !has || value != r.Values[0],
                Operator.In => has && r.Values.Contains(value!),
                Operator.NotIn => !has || !r.Values.Contains(value!),
                Operator.Exists => has,
                Operator.DoesNotExist => !has,
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses the selector syntax of the <c>labelSelector</c> query parameter.</summary>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var requirements = new List<Requirement>();
        foreach (var raw in SplitTopLevel(text))
        {
            var part = raw.Trim();
            if (part.Length == 0)
            {
                continue;
            }

            requirements.Add(ParseRequirement(part, text));
        }

        return new LabelSelector(requirements);
    }

    private static Requirement ParseRequirement(string part, string whole)
    {
        if (part.StartsWith('!'))
        {
            return new Requirement(CheckKey(part[1..].Trim(), whole), Operator.DoesNotExist, []);
        }

        var setMatch = System.Text.RegularExpressions.Regex.Match(part, @"^([^\s!=]+)\s+(in|notin)\s*\((.*)\)$");
        if (setMatch.Success)
        {
            var values = setMatch.Groups[3].Value.Split(',', StringSplitOptions.TrimEntries).Where(v => v.Length > 0 || setMatch.Groups[3].Value.Trim().Length == 0).ToArray();
            return new Requirement(CheckKey(setMatch.Groups[1].Value, whole), setMatch.Groups[2].Value == "in" ? Operator.In : Operator.NotIn, values);
        }

        foreach (var (token, op) in new[] { ("!=", Operator.NotEquals), ("==", Operator.Equals), ("=", Operator.Equals) })
        {
            var i = part.IndexOf(token, StringComparison.Ordinal);
            if (i > 0)
            {
                return new Requirement(CheckKey(part[..i].Trim(), whole), op, [part[(i + token.Length)..].Trim()]);
            }
        }

        return new Requirement(CheckKey(part, whole), Operator.Exists, []);
    }

    private static string CheckKey(string key, string whole)
    {
        if (key.Length == 0 || key.Any(c => char.IsWhiteSpace(c) || c is '(' or ')' or ',' or '=' or '!'))
        {
            throw ApiException.BadRequest($"unable to parse requirement: found '{key}', expected: identifier (selector \"{whole}\")");
        }

        return key;
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '(')
            {
                depth++;
            }
            else if (text[i] == ')')
            {
                depth--;
            }
            else if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }

        yield return text[start..];
    }

    private enum Operator { Equals, NotEquals, In, NotIn, Exists, DoesNotExist }

    private sealed record Requirement(string Key, Operator Op, string[] Values);
}
