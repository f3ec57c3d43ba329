using System.Globalization;
using System.Numerics;
using System.Text;

namespace Ferry.Operator.Contract;

/// <summary>A value as Python's <c>json</c> module holds it (the SageMaker training toolkit decodes hyperparameters into these).</summary>
public abstract record ToolkitValue
{
    public static ToolkitValue From(string text) => new ToolkitString(text);

    public static ToolkitValue From(int number) => new ToolkitInteger(number);

    public static ToolkitValue From(bool flag) => new ToolkitBoolean(flag);

    public static ToolkitValue List(IEnumerable<string> items) => new ToolkitList([.. items.Select(From)]);
}

/// <summary>Python <c>None</c> (JSON null).</summary>
public sealed record ToolkitNull : ToolkitValue
{
    public static ToolkitNull Instance { get; } = new();
}

/// <summary>Python <c>bool</c>.</summary>
public sealed record ToolkitBoolean(bool Value) : ToolkitValue;

/// <summary>Python <c>int</c>: unbounded.</summary>
public sealed record ToolkitInteger(BigInteger Value) : ToolkitValue;

/// <summary>Python <c>float</c>.</summary>
public sealed record ToolkitFloat(double Value) : ToolkitValue;

/// <summary>Python <c>str</c>.</summary>
public sealed record ToolkitString(string Value) : ToolkitValue;

/// <summary>Python <c>list</c>.</summary>
public sealed record ToolkitList(IReadOnlyList<ToolkitValue> Items) : ToolkitValue;

/// <summary>Python <c>dict</c> with string keys, in insertion order (a repeated key keeps its first place and its last value).</summary>
public sealed record ToolkitDictionary(IReadOnlyList<KeyValuePair<string, ToolkitValue>> Entries) : ToolkitValue
{
    public static ToolkitDictionary Of(params (string Key, ToolkitValue Value)[] entries) =>
        new([.. entries.Select(e => KeyValuePair.Create(e.Key, e.Value))]);
}

/// <summary>
/// Python's <c>json.loads</c>, <c>json.dumps(sort_keys=True, separators=(",", ":"))</c> and <c>str()</c> over
/// <see cref="ToolkitValue"/>, so the variables Ferry writes are byte-identical to the ones the SageMaker training
/// toolkit writes (its <c>mapping.to_env_vars</c> and <c>mapping.to_cmd_args</c>).
/// </summary>
public static class ToolkitJson
{
    /// <summary>The toolkit's hyperparameter decoding: <c>json.loads(value)</c>, or the text itself when that fails.</summary>
    public static ToolkitValue DecodeHyperParameter(string text) => TryLoads(text) ?? new ToolkitString(text);

    /// <summary>Python's <c>json.loads</c>; null when Python would raise.</summary>
    public static ToolkitValue? TryLoads(string text)
    {
        var reader = new Reader(text);
        try
        {
            reader.SkipWhitespace();
            var value = reader.Value(depth: 0);
            reader.SkipWhitespace();
            return reader.AtEnd ? value : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary><c>json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)</c>.</summary>
    public static string Dumps(ToolkitValue value)
    {
        var text = new StringBuilder();
        Dump(value, text);
        return text.ToString();
    }

    /// <summary>The toolkit's <c>format_value</c> for an environment variable: a string as is, None as "", anything else as JSON.</summary>
    public static string EnvironmentValue(ToolkitValue value) => value switch
    {
        ToolkitString s => s.Value,
        ToolkitNull => "",
        _ => Dumps(value),
    };

    /// <summary>The toolkit's <c>to_cmd_args</c>: sorted names as <c>--name</c> (<c>-n</c> for one character), values as Python's <c>str()</c>.</summary>
    public static IReadOnlyList<string> CommandArguments(ToolkitDictionary hyperParameters)
    {
        var arguments = new List<string>();
        foreach (var (name, value) in hyperParameters.Entries.OrderBy(e => e.Key, CodePointComparer.Instance))
        {
            arguments.Add(name.Length == 0 ? "" : (name.EnumerateRunes().Count() > 1 ? "--" : "-") + name);
            arguments.Add(value is ToolkitDictionary map
                ? string.Join(",", map.Entries.OrderBy(e => e.Key, CodePointComparer.Instance).Select(e => e.Key + "=" + Str(e.Value)))
                : value is ToolkitNull ? "" : Str(value));
        }

        return arguments;
    }

    /// <summary>Python's <c>str()</c>.</summary>
    public static string Str(ToolkitValue value) => value is ToolkitString s ? s.Value : Repr(value);

    /// <summary>Python's <c>repr()</c>.</summary>
    public static string Repr(ToolkitValue value) => value switch
    {
        ToolkitNull => "None",
        ToolkitBoolean b => b.Value ? "True" : "False",
        ToolkitInteger i => i.Value.ToString(CultureInfo.InvariantCulture),
        ToolkitFloat f => double.IsNaN(f.Value) ? "nan" : double.IsInfinity(f.Value) ? (f.Value > 0 ? "inf" : "-inf") : FloatRepr(f.Value),
        ToolkitString s => StringRepr(s.Value),
        ToolkitList l => "[" + string.Join(", ", l.Items.Select(Repr)) + "]",
        ToolkitDictionary d => "{" + string.Join(", ", d.Entries.Select(e => StringRepr(e.Key) + ": " + Repr(e.Value))) + "}",
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    /// <summary>Python's truth value of a decoded value (<c>bool(value)</c>).</summary>
    public static bool Truthy(ToolkitValue? value) => value switch
    {
        null or ToolkitNull => false,
        ToolkitBoolean b => b.Value,
        ToolkitInteger i => !i.Value.IsZero,
        ToolkitFloat f => f.Value != 0,
        ToolkitString s => s.Value.Length > 0,
        ToolkitList l => l.Items.Count > 0,
        ToolkitDictionary d => d.Entries.Count > 0,
        _ => false,
    };

    /// <summary>Python's <c>float.__repr__</c>: the shortest round-trip digits, fixed notation for exponents -4..15, else `1e+16` style.</summary>
    public static string FloatRepr(double value)
    {
        if (value == 0)
        {
            return double.IsNegative(value) ? "-0.0" : "0.0";
        }

        var shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var exponentAt = shortest.IndexOf('E', StringComparison.Ordinal);
        var mantissa = exponentAt < 0 ? shortest : shortest[..exponentAt];
        var exponent = exponentAt < 0 ? 0 : int.Parse(shortest[(exponentAt + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        var integerPart = point < 0 ? mantissa : mantissa[..point];
        var digits = (integerPart + (point < 0 ? "" : mantissa[(point + 1)..])).TrimEnd('0');
        var decimalPoint = integerPart.Length + exponent;
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.TrimStart('0');
        decimalPoint -= leadingZeros;

        string text;
        if (decimalPoint > -4 && decimalPoint <= 16)
        {
            text = decimalPoint <= 0 ? "0." + new string('0', -decimalPoint) + digits
                : decimalPoint >= digits.Length ? digits + new string('0', decimalPoint - digits.Length) + ".0"
                : digits[..decimalPoint] + "." + digits[decimalPoint..];
        }
        else
        {
            var e = decimalPoint - 1;
            text = digits[..1] + (digits.Length > 1 ? "." + digits[1..] : "") + "e" + (e < 0 ? "-" : "+") + Math.Abs(e).ToString("00", CultureInfo.InvariantCulture);
        }

        return value < 0 ? "-" + text : text;
    }

    private static void Dump(ToolkitValue value, StringBuilder text)
    {
        switch (value)
        {
            case ToolkitNull:
                text.Append("null");
                break;
            case ToolkitBoolean b:
                text.Append(b.Value ? "true" : "false");
                break;
            case ToolkitInteger i:
                text.Append(i.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case ToolkitFloat f:
                text.Append(double.IsNaN(f.Value) ? "NaN" : double.IsInfinity(f.Value) ? (f.Value > 0 ? "Infinity" : "-Infinity") : FloatRepr(f.Value));
                break;
            case ToolkitString s:
                DumpString(s.Value, text);
                break;
            case ToolkitList l:
                text.Append('[');
                for (var k = 0; k < l.Items.Count; k++)
                {
                    if (k > 0)
                    {
                        text.Append(',');
                    }

                    Dump(l.Items[k], text);
                }

                text.Append(']');
                break;
            case ToolkitDictionary d:
                text.Append('{');
                var first = true;
                foreach (var (key, item) in d.Entries.OrderBy(e => e.Key, CodePointComparer.Instance))
                {
                    if (!first)
                    {
                        text.Append(',');
                    }

                    first = false;
                    DumpString(key, text);
                    text.Append(':');
                    Dump(item, text);
                }

                text.Append('}');
                break;
        }
    }

    // ensure_ascii: everything outside ' '..'~' is escaped, UTF-16 units as \uXXXX (lower-case hex).
    private static void DumpString(string value, StringBuilder text)
    {
        text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                default:
                    if (c < ' ' || c > '~')
                    {
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        text.Append('"');
    }

    // Python's str.__repr__: single quotes unless the text has ' and no ", printable characters kept.
    private static string StringRepr(string value)
    {
        var quote = value.Contains('\'', StringComparison.Ordinal) && !value.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        var text = new StringBuilder().Append(quote);
        foreach (var rune in value.EnumerateRunes())
        {
            var v = rune.Value;
            if (v == quote || v == '\\')
            {
                text.Append('\\').Append((char)v);
            }
            else if (v == '\t')
            {
                text.Append("\\t");
            }
            else if (v == '\n')
            {
                text.Append("\\n");
            }
            else if (v == '\r')
            {
                text.Append("\\r");
            }
            else if (v < ' ' || v == 0x7f)
            {
                text.Append("\\x").Append(v.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (v < 0x7f || Printable(rune))
            {
                text.Append(rune.ToString());
            }
            else
            {
                text.Append(v <= 0xff ? "\\x" + v.ToString("x2", CultureInfo.InvariantCulture)
                    : v <= 0xffff ? "\\u" + v.ToString("x4", CultureInfo.InvariantCulture)
                    : "\\U" + v.ToString("x8", CultureInfo.InvariantCulture));
            }
        }

        return text.Append(quote).ToString();
    }

    private static bool Printable(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.SpaceSeparator => false,
        _ => true,
    };

    /// <summary>Orders strings by Unicode code point, as Python's <c>sorted</c> does (ordinal UTF-16 order differs above U+FFFF).</summary>
    public sealed class CodePointComparer : IComparer<string>
    {
        public static CodePointComparer Instance { get; } = new();

        public int Compare(string? x, string? y)
        {
            if (x is null || y is null)
            {
                return x is null ? (y is null ? 0 : -1) : 1;
            }

            using var a = x.EnumerateRunes().GetEnumerator();
            using var b = y.EnumerateRunes().GetEnumerator();
            while (true)
            {
                var hasA = a.MoveNext();
                var hasB = b.MoveNext();
                if (!hasA || !hasB)
                {
                    return hasA ? 1 : hasB ? -1 : 0;
                }

                var order = a.Current.Value.CompareTo(b.Current.Value);
                if (order != 0)
                {
                    return order;
                }
            }
        }
    }

    // The grammar of CPython's C scanner (json.scanner.c_make_scanner), strict mode.
    private sealed class Reader(string text)
    {
        private const int MaxDepth = 900;
        private int _at;

        public bool AtEnd => _at == text.Length;

        public void SkipWhitespace()
        {
            while (_at < text.Length && text[_at] is ' ' or '\t' or '\n' or '\r')
            {
                _at++;
            }
        }

        public ToolkitValue Value(int depth)
        {
            if (depth > MaxDepth || _at >= text.Length)
            {
                throw new FormatException();
            }

            switch (text[_at])
            {
                case '"':
                    _at++;
                    return new ToolkitString(String());
                case '{':
                    return Object(depth);
                case '[':
                    return Array(depth);
            }

            foreach (var (literal, value) in Literals)
            {
                if (string.CompareOrdinal(text, _at, literal, 0, literal.Length) == 0)
                {
                    _at += literal.Length;
                    return value;
                }
            }

            return Number();
        }

        private static readonly (string, ToolkitValue)[] Literals =
        [
            ("null", ToolkitNull.Instance), ("true", new ToolkitBoolean(true)), ("false", new ToolkitBoolean(false)),
            ("NaN", new ToolkitFloat(double.NaN)), ("Infinity", new ToolkitFloat(double.PositiveInfinity)),
            ("-Infinity", new ToolkitFloat(double.NegativeInfinity)),
        ];

        private ToolkitValue Number()
        {
            var start = _at;
            if (_at < text.Length && text[_at] == '-')
            {
                _at++;
            }

            if (_at < text.Length && text[_at] == '0')
            {
                _at++;
            }
            else if (_at < text.Length && text[_at] is >= '1' and <= '9')
            {
                Digits();
            }
            else
            {
                throw new FormatException();
            }

            var isFloat = false;
            if (_at + 1 < text.Length && text[_at] == '.' && char.IsAsciiDigit(text[_at + 1]))
            {
                _at++;
                Digits();
                isFloat = true;
            }

            if (_at < text.Length && text[_at] is 'e' or 'E')
            {
                var save = _at;
                _at++;
                if (_at < text.Length && text[_at] is '+' or '-')
                {
                    _at++;
                }

                if (_at < text.Length && char.IsAsciiDigit(text[_at]))
                {
                    Digits();
                    isFloat = true;
                }
                else
                {
                    _at = save;
                }
            }

            var number = text[start.._at];
            return isFloat
                ? new ToolkitFloat(double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture))
                : new ToolkitInteger(BigInteger.Parse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        }

        private void Digits()
        {
            while (_at < text.Length && char.IsAsciiDigit(text[_at]))
            {
                _at++;
            }
        }

        private string String()
        {
            var value = new StringBuilder();
            while (true)
            {
                if (_at >= text.Length)
                {
                    throw new FormatException();
                }

                var c = text[_at++];
                if (c == '"')
                {
                    return value.ToString();
                }

                if (c < ' ')
                {
                    throw new FormatException();
                }

                if (c != '\\')
                {
                    value.Append(c);
                    continue;
                }

                if (_at >= text.Length)
                {
                    throw new FormatException();
                }

                var escape = text[_at++];
                switch (escape)
                {
                    case '"': value.Append('"'); break;
                    case '\\': value.Append('\\'); break;
                    case '/': value.Append('/'); break;
                    case 'b': value.Append('\b'); break;
                    case 'f': value.Append('\f'); break;
                    case 'n': value.Append('\n'); break;
                    case 'r': value.Append('\r'); break;
                    case 't': value.Append('\t'); break;
                    case 'u': value.Append(Hex()); break;
                    default: throw new FormatException();
                }
            }
        }

        private char Hex()
        {
            if (_at + 4 > text.Length || !int.TryParse(text.AsSpan(_at, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            {
                throw new FormatException();
            }

            _at += 4;
            return (char)code;
        }

        private ToolkitList Array(int depth)
        {
            _at++;
            var items = new List<ToolkitValue>();
            SkipWhitespace();
            if (_at < text.Length && text[_at] == ']')
            {
                _at++;
                return new ToolkitList(items);
            }

            while (true)
            {
                SkipWhitespace();
                items.Add(Value(depth + 1));
                SkipWhitespace();
                if (_at < text.Length && text[_at] == ',')
                {
                    _at++;
                    continue;
                }

                if (_at < text.Length && text[_at] == ']')
                {
                    _at++;
                    return new ToolkitList(items);
                }

                throw new FormatException();
            }
        }

        private ToolkitDictionary Object(int depth)
        {
            _at++;
            var entries = new List<KeyValuePair<string, ToolkitValue>>();
            SkipWhitespace();
            if (_at < text.Length && text[_at] == '}')
            {
                _at++;
                return new ToolkitDictionary(entries);
            }

            while (true)
            {
                SkipWhitespace();
                if (_at >= text.Length || text[_at] != '"')
                {
                    throw new FormatException();
                }

                _at++;
                var key = String();
                SkipWhitespace();
                if (_at >= text.Length || text[_at] != ':')
                {
                    throw new FormatException();
                }

                _at++;
                SkipWhitespace();
                var item = Value(depth + 1);
                var existing = entries.FindIndex(e => e.Key == key);
                if (existing >= 0)
                {
                    entries[existing] = KeyValuePair.Create(key, item);
                }
                else
                {
                    entries.Add(KeyValuePair.Create(key, item));
                }

                SkipWhitespace();
                if (_at < text.Length && text[_at] == ',')
                {
                    _at++;
                    continue;
                }

                if (_at < text.Length && text[_at] == '}')
                {
                    _at++;
                    return new ToolkitDictionary(entries);
                }

                throw new FormatException();
            }
        }
    }
}
