using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.SageMakerEmulator.Model;

/// <summary>
/// Checks a JSON 1.1 document against a shape of a <see cref="ServiceModel"/> the way AWS's front end does: types first
/// (a wrong type is a <c>SerializationException</c>), then required members, enums, lengths, counts, ranges and
/// patterns, each violation phrased as AWS phrases it ("Value ... at 'member' failed to satisfy constraint: ...").
/// </summary>
public sealed class ShapeValidator(ServiceModel model)
{
    private readonly ConcurrentDictionary<string, Regex> _patterns = new();

    /// <summary>The result of one validation.</summary>
    public sealed record Result(IReadOnlyList<string> TypeErrors, IReadOnlyList<string> Violations)
    {
        public bool IsValid => TypeErrors.Count == 0 && Violations.Count == 0;

        /// <summary>The <c>ValidationException</c> message AWS sends for these violations.</summary>
        public string ValidationMessage => Violations.Count == 1
            ? $"1 validation error detected: {Violations[0]}"
            : $"{Violations.Count} validation errors detected: {string.Join("; ", Violations)}";
    }

    public ServiceModel Model { get; } = model;

    /// <summary>Validates <paramref name="document"/> against the structure <paramref name="shapeName"/>.</summary>
    public Result Validate(string shapeName, JsonElement document)
    {
        var typeErrors = new List<string>();
        var violations = new List<string>();
        Check(shapeName, document, "", typeErrors, violations);
        return new Result(typeErrors, violations);
    }

    /// <summary>
    /// Every pattern reachable from <paramref name="shapeNames"/>, compiled; throws when one cannot be translated to .NET,
    /// so an untranslatable pattern fails loudly instead of going unchecked.
    /// </summary>
    public int CompileAllPatterns(IEnumerable<string> shapeNames)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(shapeNames);
        var count = 0;
        while (pending.TryPop(out var name))
        {
            if (!seen.Add(name))
            {
                continue;
            }

            var shape = Model.Shape(name);
            if ((string?)shape["pattern"] is { } pattern)
            {
                _ = PatternFor(pattern);
                count++;
            }

            foreach (var member in (shape["members"]?.AsObject() ?? []).Select(m => (string)m.Value!["shape"]!))
            {
                pending.Push(member);
            }

            foreach (var key in new[] { "member", "key", "value" })
            {
                if ((string?)shape[key]?["shape"] is { } inner)
                {
                    pending.Push(inner);
                }
            }
        }

        return count;
    }

    /// <summary>
    /// A service-model pattern as a .NET regex matching the whole value (AWS matches patterns against the whole value).
    /// The models' patterns are Java regexes; what .NET reads differently is translated: Java's POSIX classes such as
    /// <c>\p{Alnum}</c> become their ASCII ranges, an escaped <c>_</c> loses its backslash, and a range of surrogate pairs (<c>\uD800\uDC00-\uDBFF\uDFFF</c>, any
    /// astral character) becomes the range of UTF-16 surrogates.
    /// </summary>
    public Regex PatternFor(string pattern) => _patterns.GetOrAdd(pattern, p =>
    {
        var translated = TranslateJavaPattern(p);
        try
        {
            return new Regex($@"\A(?:{translated})\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"the service model's pattern '{p}' is not a .NET regex even after translation: {e.Message}", e);
        }
    });

    private static readonly Dictionary<string, string> PosixClasses = new(StringComparer.Ordinal)
    {
        ["Lower"] = "a-z", ["Upper"] = "A-Z", ["ASCII"] = @"\x00-\x7F", ["Alpha"] = "a-zA-Z", ["Digit"] = "0-9",
        ["Alnum"] = "a-zA-Z0-9", ["Punct"] = @"!-/:-@\[-`{-~", ["Graph"] = @"!-~", ["Print"] = @"\x20-~", ["Blank"] = @" \t",
        ["Cntrl"] = @"\x00-\x1F\x7F", ["XDigit"] = "0-9a-fA-F", ["Space"] = @" \t\n\x0B\f\r",
    };

    /// <summary>Rewrites the Java-only constructs of a pattern for .NET (see <see cref="PatternFor"/>).</summary>
    public static string TranslateJavaPattern(string pattern)
    {
        var text = pattern.Replace(@"\uD800\uDC00-\uDBFF\uDFFF", @"\uD800-\uDFFF", StringComparison.OrdinalIgnoreCase);
        var result = new System.Text.StringBuilder();
        var inClass = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                if (text[i + 1] is 'p' or 'P' && i + 2 < text.Length && text[i + 2] == '{')
                {
                    var close = text.IndexOf('}', i + 3);
                    var name = close > 0 ? text[(i + 3)..close] : "";
                    if (PosixClasses.TryGetValue(name, out var range))
                    {
                        var negated = text[i + 1] == 'P';
                        result.Append(inClass && !negated ? range : $"[{(negated ? "^" : "")}{range}]");
                        i = close;
                        continue;
                    }
                }

                // Java lets any non-letter be escaped; .NET refuses escaping '_' (a word character).
                if (text[i + 1] == '_')
                {
                    result.Append('_');
                }
                else
                {
                    result.Append(c).Append(text[i + 1]);
                }

                i++;
                continue;
            }

            if (c == '[' && !inClass)
            {
                inClass = true;
            }
            else if (c == ']' && inClass)
            {
                inClass = false;
            }

            result.Append(c);
        }

        return result.ToString();
    }

    private void Check(string shapeName, JsonElement value, string path, List<string> typeErrors, List<string> violations)
    {
        var shape = Model.Shape(shapeName);
        var type = (string)shape["type"]!;
        switch (type)
        {
            case "structure":
                if (value.ValueKind != JsonValueKind.Object)
                {
                    typeErrors.Add($"Expected a structure (JSON object) at '{Name(path)}' but found {Describe(value)}");
                    return;
                }

                var members = shape["members"]!.AsObject();
                foreach (var required in shape["required"]?.AsArray().Select(r => (string)r!) ?? [])
                {
                    if (!value.TryGetProperty(required, out var present) || present.ValueKind == JsonValueKind.Null)
                    {
                        violations.Add($"Value null at '{Join(path, required)}' failed to satisfy constraint: Member must not be null");
                    }
                }

                foreach (var property in value.EnumerateObject())
                {
                    // AWS ignores members it does not know; so does the emulator.
                    if (members[property.Name] is { } member && property.Value.ValueKind != JsonValueKind.Null)
                    {
                        Check((string)member["shape"]!, property.Value, Join(path, property.Name), typeErrors, violations);
                    }
                }

                return;
            case "list":
                if (value.ValueKind != JsonValueKind.Array)
                {
                    typeErrors.Add($"Expected a list (JSON array) at '{Name(path)}' but found {Describe(value)}");
                    return;
                }

                CheckSize(shape, value.GetArrayLength(), value, path, violations);
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    index++;
                    Check((string)shape["member"]!["shape"]!, item, $"{path}.{index}.member", typeErrors, violations);
                }

                return;
            case "map":
                if (value.ValueKind != JsonValueKind.Object)
                {
                    typeErrors.Add($"Expected a map (JSON object) at '{Name(path)}' but found {Describe(value)}");
                    return;
                }

                var entries = value.EnumerateObject().ToList();
                CheckSize(shape, entries.Count, value, path, violations);
                var keyShape = (string)shape["key"]!["shape"]!;
                var valueShape = (string)shape["value"]!["shape"]!;
                foreach (var entry in entries)
                {
                    using var key = JsonDocument.Parse(JsonSerializer.Serialize(entry.Name));
                    Check(keyShape, key.RootElement, $"{path}.{entry.Name}.key", typeErrors, violations);
                    Check(valueShape, entry.Value, $"{path}.{entry.Name}.value", typeErrors, violations);
                }

                return;
            case "string":
                if (value.ValueKind != JsonValueKind.String)
                {
                    typeErrors.Add($"STRING_VALUE expected at '{Name(path)}' but found {Describe(value)}");
                    return;
                }

                var text = value.GetString()!;
                if (shape["enum"] is JsonArray allowed && !allowed.Any(a => (string?)a == text))
                {
                    violations.Add($"Value '{text}' at '{Name(path)}' failed to satisfy constraint: Member must satisfy enum value set: [{string.Join(", ", allowed.Select(a => (string?)a))}]");
                }

                // Lengths count characters as Java does: UTF-16 code units.
                CheckSize(shape, text.Length, value, path, violations);
                if ((string?)shape["pattern"] is { } pattern && !PatternFor(pattern).IsMatch(text))
                {
                    violations.Add($"Value '{text}' at '{Name(path)}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}");
                }

                return;
            case "integer" or "long":
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var whole)
                    || (type == "integer" && whole is < int.MinValue or > int.MaxValue))
                {
                    typeErrors.Add($"{(type == "integer" ? "Integer" : "Long")} expected at '{Name(path)}' but found {Describe(value)}");
                    return;
                }

                CheckRange(shape, whole, path, violations);
                return;
            case "float" or "double":
                if (value.ValueKind != JsonValueKind.Number)
                {
                    typeErrors.Add($"Number expected at '{Name(path)}' but found {Describe(value)}");
                    return;
                }

                CheckRange(shape, value.GetDouble(), path, violations);
                return;
            case "boolean":
                if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    typeErrors.Add($"Boolean expected at '{Name(path)}' but found {Describe(value)}");
                }

                return;
            case "timestamp":
                // JSON 1.1 sends epoch seconds; AWS also reads ISO 8601 strings.
                if (value.ValueKind != JsonValueKind.Number
                    && !(value.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _)))
                {
                    typeErrors.Add($"Timestamp (epoch seconds) expected at '{Name(path)}' but found {Describe(value)}");
                }

                return;
            case "blob":
                if (value.ValueKind != JsonValueKind.String || !IsBase64(value.GetString()!))
                {
                    typeErrors.Add($"Base64 blob expected at '{Name(path)}' but found {Describe(value)}");
                }

                return;
            default:
                // "document" and anything newer: any JSON value.
                return;
        }
    }

    private static void CheckSize(JsonObject shape, long size, JsonElement value, string path, List<string> violations)
    {
        if (shape["min"] is { } min && size < (long)min)
        {
            violations.Add($"Value {Render(value)} at '{Name(path)}' failed to satisfy constraint: Member must have length greater than or equal to {(long)min}");
        }

        if (shape["max"] is { } max && size > (long)max)
        {
            violations.Add($"Value {Render(value)} at '{Name(path)}' failed to satisfy constraint: Member must have length less than or equal to {(long)max}");
        }
    }

    private static void CheckRange(JsonObject shape, double number, string path, List<string> violations)
    {
        var text = number.ToString(CultureInfo.InvariantCulture);
        if (shape["min"] is { } min && number < (double)min)
        {
            violations.Add($"Value '{text}' at '{Name(path)}' failed to satisfy constraint: Member must have value greater than or equal to {(double)min}");
        }

        if (shape["max"] is { } max && number > (double)max)
        {
            violations.Add($"Value '{text}' at '{Name(path)}' failed to satisfy constraint: Member must have value less than or equal to {(double)max}");
        }
    }

    private static string Render(JsonElement value) => value.ValueKind == JsonValueKind.String ? $"'{value.GetString()}'" : $"'{value.GetRawText()}'";

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "a JSON object",
        JsonValueKind.Array => "a JSON array",
        JsonValueKind.String => $"the string '{value.GetString()}'",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {value.GetRawText()}",
        _ => value.ValueKind.ToString(),
    };

    private static bool IsBase64(string text)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out _);
    }

    // AWS names members in camelCase: 'algorithmSpecification.trainingImage'.
    private static string Join(string path, string member) => path.Length == 0 ? Camel(member) : $"{path}.{Camel(member)}";

    private static string Name(string path) => path.Length == 0 ? "request" : path;

    private static string Camel(string member) => member.Length == 0 ? member : char.ToLowerInvariant(member[0]) + member[1..];
}
