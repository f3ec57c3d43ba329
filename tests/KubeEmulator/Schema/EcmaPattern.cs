using System.Text;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Compiles an OpenAPI `pattern` (ECMA-262 syntax, unanchored unless written with ^/$) into a .NET regex with RE2's `$`.</summary>
internal static class EcmaPattern
{
    public static Regex Compile(string pattern)
    {
        // In RE2 (what the apiserver runs) `$` without multi-line mode matches only at the very end, whereas .NET's
        // `$` also matches before a final newline; translate unescaped `$` outside character classes to `\z`.
        var sb = new StringBuilder(pattern.Length + 4);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                sb.Append(c).Append(pattern[++i]);
                continue;
            }

            if (inClass)
            {
                inClass = c != ']';
                sb.Append(c);
                continue;
            }

            switch (c)
            {
                case '[':
                    inClass = true;
                    sb.Append(c);
                    break;
                case '$':
                    sb.Append("\\z");
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }

        // ECMAScript mode keeps \d, \w and \s to ASCII as in RE2; constructs it lacks fall back to the full .NET syntax.
        try
        {
            return new Regex(sb.ToString(), RegexOptions.ECMAScript | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException)
        {
            try
            {
                return new Regex(sb.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"The schema pattern '{pattern}' is not a valid regular expression: {e.Message}", nameof(pattern), e);
            }
        }
    }
}
