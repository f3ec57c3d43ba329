using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Prints values as Go's fmt does (`%v`, `%q`, `%#v`), because apiserver messages are built with fmt.</summary>
internal static class GoFormat
{
    /// <summary>strconv.Quote: a double-quoted Go string literal.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (var rune in s.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': sb.Append("\\\""); continue;
                case '\\': sb.Append("\\\\"); continue;
                case '\a': sb.Append("\\a"); continue;
                case '\b': sb.Append("\\b"); continue;
                case '\f': sb.Append("\\f"); continue;
                case '\n': sb.Append("\\n"); continue;
                case '\r': sb.Append("\\r"); continue;
                case '\t': sb.Append("\\t"); continue;
                case '\v': sb.Append("\\v"); continue;
            }

            if (IsPrint(rune))
            {
                sb.Append(rune.ToString());
            }
            else if (rune.Value < 0x80)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\x{rune.Value:x2}");
            }
            else if (rune.Value < 0x10000)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{rune.Value:x4}");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\U{rune.Value:x8}");
            }
        }

        sb.Append('"');
        return sb.ToString();
    }

    private static bool IsPrint(Rune rune)
    {
        if (rune.Value == ' ')
        {
            return true;
        }

        var category = Rune.GetUnicodeCategory(rune);
        return category is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.SpaceSeparator
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
    }

    /// <summary>`%v` of a float64: shortest representation, exponent form below 1e-4 and from 1e21.</summary>
    public static string Float(double d)
    {
        if (double.IsNaN(d))
        {
            return "NaN";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "+Inf" : "-Inf";
        }

        if (d == 0)
        {
            return double.IsNegative(d) ? "-0" : "0";
        }

        // "E16" gives 17 significant digits; "R" gives the shortest round-trip digits which Go also uses.
        var r = d.ToString("R", CultureInfo.InvariantCulture);
        var negative = r.StartsWith('-');
        if (negative)
        {
            r = r[1..];
        }

        var exponentAt = r.IndexOfAny(['E', 'e']);
        var mantissa = exponentAt >= 0 ? r[..exponentAt] : r;
        var exponent = exponentAt >= 0 ? int.Parse(r[(exponentAt + 1)..], CultureInfo.InvariantCulture) : 0;
        var point = mantissa.IndexOf('.');
        var digits = point >= 0 ? mantissa.Remove(point, 1) : mantissa;
        var intDigits = point >= 0 ? point : mantissa.Length;
        var lead = digits.TakeWhile(c => c == '0').Count();
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
        }

        // Scientific exponent x such that value = d.ddd × 10^x.
        var x = intDigits - lead - 1 + exponent;
        string text;
        if (x < -4 || x >= 21)
        {
            var m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            text = m + "e" + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
        }
        else if (x < 0)
        {
            text = "0." + new string('0', -x - 1) + digits;
        }
        else if (digits.Length <= x + 1)
        {
            text = digits + new string('0', x + 1 - digits.Length);
        }
        else
        {
            text = digits[..(x + 1)] + "." + digits[(x + 1)..];
        }

        return negative ? "-" + text : text;
    }

    /// <summary>`%v` of a number decoded from JSON (int64 or float64).</summary>
    public static string Number(JsonValue value) =>
        JsonValues.TryGetInteger(value, out var l) ? l.ToString(CultureInfo.InvariantCulture) : Float(JsonValues.AsDouble(value) ?? 0);

    /// <summary>`%#v` of an unstructured value (map[string]interface {}, []interface {}, scalars).</summary>
    public static string GoSyntax(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return "interface {}(nil)";
            case JsonObject o:
                var entries = o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => Quote(p.Key) + ":" + GoSyntax(p.Value));
                return "map[string]interface {}{" + string.Join(", ", entries) + "}";
            case JsonArray a:
                return "[]interface {}{" + string.Join(", ", a.Select(GoSyntax)) + "}";
            case JsonValue v:
                return v.GetValueKind() switch
                {
                    JsonValueKind.String => Quote(v.GetValue<string>()),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    JsonValueKind.Number => Number(v),
                    _ => "interface {}(nil)",
                };
            default:
                return "interface {}(nil)";
        }
    }
}
