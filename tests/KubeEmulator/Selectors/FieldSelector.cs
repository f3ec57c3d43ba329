using Ferry.KubeEmulator.Errors;

namespace Ferry.KubeEmulator.Selectors;

/// <summary>A parsed <c>fieldSelector</c> (=, ==, != on metadata.name, metadata.namespace, and a few kind-specific fields).</summary>
/// <remarks>https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/</remarks>
public sealed class FieldSelector
{
    private static readonly HashSet<string> Supported = ["metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "type"];
    private readonly List<(string Field, bool Equal, string Value)> _terms;

    private FieldSelector(List<(string, bool, string)> terms) => _terms = terms;

    public static FieldSelector Everything { get; } = new([]);

    public bool IsEmpty => _terms.Count == 0;

    /// <summary>The name this selector pins (metadata.name=x), if any.</summary>
    public string? Name => _terms.FirstOrDefault(t => t.Field == "metadata.name" && t.Equal).Value;

    public bool Matches(IReadOnlyDictionary<string, string> fields)
    {
        foreach (var (field, equal, value) in _terms)
        {
            fields.TryGetValue(field, out var actual);
            if ((actual ?? "") == value != equal)
            {
                return false;
            }
        }

        return true;
    }

    public static FieldSelector Parse(string? text, string kind)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var terms = new List<(string, bool, string)>();
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            if (part.Length == 0)
            {
                continue;
            }

            string field, value;
            bool equal;
            var ne = part.IndexOf("!=", StringComparison.Ordinal);
            if (ne > 0)
            {
                (field, equal, value) = (part[..ne], false, part[(ne + 2)..]);
            }
            else
            {
                var eq = part.IndexOf('=');
                if (eq <= 0)
                {
                    throw ApiException.BadRequest($"invalid selector: '{text}'; can't understand '{part}'");
                }

                var skip = part.Length > eq + 1 && part[eq + 1] == '=' ? 2 : 1;
                (field, equal, value) = (part[..eq], true, part[(eq + skip)..]);
            }

            field = field.Trim();
            if (!Supported.Contains(field))
            {
                throw ApiException.BadRequest($"\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\" (kind {kind})");
            }

            terms.Add((field, equal, value.Trim()));
        }

        return new FieldSelector(terms);
    }
}
