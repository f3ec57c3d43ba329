using Ferry.KubeEmulator.Errors;
using Ferry.KubeEmulator.Resources;
using Ferry.KubeEmulator.Store;

namespace Ferry.KubeEmulator.Selectors;

/// <summary>A parsed <c>fieldSelector</c> (=, ==, != on the fields the resource declares selectable).</summary>
/// <remarks>https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/</remarks>
public sealed class FieldSelector
{
    private readonly List<(string Field, bool Equal, string Value)> _terms;

    private FieldSelector(List<(string, bool, string)> terms) => _terms = terms;

    public static FieldSelector Everything { get; } = new([]);

    public bool IsEmpty => _terms.Count == 0;

    /// <summary>The name this selector pins (metadata.name=x), if any.</summary>
    public string? Name => _terms.FirstOrDefault(t => t.Field == "metadata.name" && t.Equal).Value;

    public bool Matches(StoredObject o)
    {
        foreach (var (field, equal, value) in _terms)
        {
            if (o.FieldValue(field) == value != equal)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses <paramref name="text"/>; a field <paramref name="r"/> does not declare selectable is a 400, as from the apiserver.</summary>
    public static FieldSelector Parse(string? text, ApiResource r)
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
            if (!r.SelectableFields.TryGetValue(field, out var stored))
            {
                throw ApiException.BadRequest($"field label not supported: {field}");
            }

            terms.Add((stored, equal, value.Trim()));
        }

        return new FieldSelector(terms);
    }
}
