namespace Ferry.Operator.Runtime.Resources;

/// <summary>A parsed Kubernetes label selector (<c>a=b,c!=d,e in (x,y),f notin (z),g,!h</c>) evaluated locally.</summary>
public sealed class LabelSelector
{
    private readonly List<Requirement> _requirements;

    private LabelSelector(List<Requirement> requirements) => _requirements = requirements;

    /// <summary>The selector that matches everything.</summary>
    public static LabelSelector Everything { get; } = new([]);

    /// <summary>Parses selector text; null or empty matches everything.</summary>
    /// <exception cref="FormatException">The text is not a valid selector; the message names the bad term.</exception>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var requirements = new List<Requirement>();
        foreach (var term in SplitTerms(text))
        {
            var trimmed = term.Trim();
            requirements.Add(Checked(ParseTerm(trimmed, text), trimmed));
        }

        return new LabelSelector(requirements);
    }

    /// <summary>Whether the labels satisfy every requirement.</summary>
    public bool Matches(IDictionary<string, string>? labels)
    {
        foreach (var requirement in _requirements)
        {
            string? value = null;
            var has = labels is not null && labels.TryGetValue(requirement.Key, out value);
            var ok = requirement.Operator switch
            {
                SelectorOperator.Exists => has,
                SelectorOperator.DoesNotExist => !has,
                SelectorOperator.Equals => has && requirement.Values.Contains(value!),
                SelectorOperator.NotEquals => !has || !requirement.Values.Contains(value!),
                SelectorOperator.In => has && requirement.Values.Contains(value!),
                SelectorOperator.NotIn => !has || !requirement.Values.Contains(value!),
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    // Commas separate terms except inside the parentheses of a set.
    private static IEnumerable<string> SplitTerms(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    yield return text[start..i];
                    start = i + 1;
                    break;
            }
        }

        yield return text[start..];
    }

    private static Requirement ParseTerm(string term, string whole)
    {
        if (term.Length == 0)
        {
            throw new FormatException($"Label selector '{whole}' has an empty term; remove the stray comma.");
        }

        if (term.StartsWith('!'))
        {
            return new Requirement(term[1..].Trim(), SelectorOperator.DoesNotExist, []);
        }

        foreach (var (word, op) in new[] { (" notin ", SelectorOperator.NotIn), (" in ", SelectorOperator.In) })
        {
            var at = term.IndexOf(word, StringComparison.Ordinal);
            if (at > 0)
            {
                var set = term[(at + word.Length)..].Trim();
                if (!set.StartsWith('(') || !set.EndsWith(')'))
                {
                    throw new FormatException($"Label selector term '{term}' needs its values in parentheses, e.g. 'key in (a,b)'.");
                }

                var values = set[1..^1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                return new Requirement(term[..at].Trim(), op, [.. values]);
            }
        }

        foreach (var (symbol, op) in new[] { ("!=", SelectorOperator.NotEquals), ("==", SelectorOperator.Equals), ("=", SelectorOperator.Equals) })
        {
            var at = term.IndexOf(symbol, StringComparison.Ordinal);
            if (at > 0)
            {
                return new Requirement(term[..at].Trim(), op, [term[(at + symbol.Length)..].Trim()]);
            }
        }

        if (term.Any(c => char.IsWhiteSpace(c) || c is '(' or ')' or '='))
        {
            throw new FormatException($"Label selector term '{term}' is not 'key', '!key', 'key=value', 'key!=value', 'key in (…)' or 'key notin (…)'.");
        }

        return new Requirement(term, SelectorOperator.Exists, []);
    }

    private enum SelectorOperator
    {
        Exists,
        DoesNotExist,
        Equals,
        NotEquals,
        In,
        NotIn,
    }

    private static Requirement Checked(Requirement requirement, string term)
    {
        if (!IsKey(requirement.Key))
        {
            throw new FormatException($"Label selector term '{term}' has an invalid key '{requirement.Key}'; keys are [prefix/]name of letters, digits, '-', '_' and '.'.");
        }

        var bad = requirement.Values.FirstOrDefault(v => !v.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'));
        if (bad is not null)
        {
            throw new FormatException($"Label selector term '{term}' has an invalid value '{bad}'; values are letters, digits, '-', '_' and '.'.");
        }

        return requirement;
    }

    private static bool IsKey(string key) =>
        key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/');

    private sealed record Requirement(string Key, SelectorOperator Operator, HashSet<string> Values);
}
