using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Validation;

/// <summary>
/// The ObjectMeta checks the apiserver applies to every kind (apimachinery's ValidateObjectMeta): names by the kind's rule,
/// label keys and values, annotation keys and total size, finalizer names, and owner references (one controller at most).
/// </summary>
/// <remarks>https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set and
/// https://kubernetes.io/docs/concepts/overview/working-with-objects/names/</remarks>
public static partial class ObjectMetaValidation
{
    /// <summary>The total size of annotations (keys and values) the apiserver accepts.</summary>
    public const int TotalAnnotationSizeLimit = 256 * 1024;

    private const string QualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
    private const string QualifiedNameMessage = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" + QualifiedNameFormat + "')";
    private const string LabelValueMessage = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(" + QualifiedNameFormat + ")?')";
    private const string SubdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    private const string Dns1123LabelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    private const string Dns1035LabelMessage = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    /// <summary>How a kind's names are checked.</summary>
    public enum NameRule
    {
        /// <summary>DNS-1123 subdomain (most kinds, custom resources).</summary>
        Subdomain,

        /// <summary>DNS-1123 label (Namespaces).</summary>
        Dns1123Label,

        /// <summary>DNS-1035 label (Services).</summary>
        Dns1035Label,

        /// <summary>Any path segment: no '/' or '%', not '.' or '..' (RBAC roles and bindings, e.g. <c>system:discovery</c>).</summary>
        PathSegment,
    }

    /// <summary>The rule the apiserver's validation of <paramref name="group"/>/<paramref name="plural"/> applies to names.</summary>
    public static NameRule NameRuleFor(string group, string plural) => (group, plural) switch
    {
        ("", "namespaces") => NameRule.Dns1123Label,
        ("", "services") => NameRule.Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule.PathSegment,
        _ => NameRule.Subdomain,
    };

    /// <summary>The name error (field metadata.name), or null.</summary>
    public static (string Reason, string Field, string Message)? CheckName(string name, NameRule rule)
    {
        if (rule == NameRule.PathSegment)
        {
            return name is "." or ".." ? ("FieldValueInvalid", "metadata.name", $"Invalid value: \"{name}\": may not be '{name}'")
                : name.IndexOfAny(['/', '%']) is var at and >= 0 ? ("FieldValueInvalid", "metadata.name", $"Invalid value: \"{name}\": may not contain '{name[at]}'")
                : null;
        }

        var (ok, max, message) = rule switch
        {
            NameRule.Dns1123Label => (Dns1123Label().IsMatch(name), 63, Dns1123LabelMessage),
            NameRule.Dns1035Label => (Dns1035Label().IsMatch(name), 63, Dns1035LabelMessage),
            _ => (Subdomain().IsMatch(name), 253, SubdomainMessage),
        };
        if (name.Length > max)
        {
            return ("FieldValueInvalid", "metadata.name", $"Invalid value: \"{name}\": must be no more than {max} characters");
        }

        return ok ? null : ("FieldValueInvalid", "metadata.name", $"Invalid value: \"{name}\": {message}");
    }

    /// <summary>Every error in labels, annotations, finalizers and ownerReferences of <paramref name="meta"/>.</summary>
    public static List<(string Reason, string Field, string Message)> Check(JsonObject meta)
    {
        var errors = new List<(string, string, string)>();
        if (meta["labels"] is JsonObject labels)
        {
            foreach (var (key, value) in labels)
            {
                CheckQualifiedName(key, "metadata.labels", errors);
                var text = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString() ?? "";
                if (text.Length > 63)
                {
                    errors.Add(("FieldValueInvalid", "metadata.labels", $"Invalid value: \"{text}\": must be no more than 63 characters"));
                }
                else if (text.Length > 0 && !QualifiedNamePart().IsMatch(text))
                {
                    errors.Add(("FieldValueInvalid", "metadata.labels", $"Invalid value: \"{text}\": {LabelValueMessage}"));
                }
            }
        }

        if (meta["annotations"] is JsonObject annotations)
        {
            long size = 0;
            foreach (var (key, value) in annotations)
            {
                CheckQualifiedName(key.ToLowerInvariant(), "metadata.annotations", errors);
                size += Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString() ?? "");
            }

            if (size > TotalAnnotationSizeLimit)
            {
                errors.Add(("FieldValueTooLong", "metadata.annotations", $"Too long: must have at most {TotalAnnotationSizeLimit} bytes"));
            }
        }

        if (meta["finalizers"] is JsonArray finalizers)
        {
            var i = 0;
            foreach (var f in finalizers)
            {
                CheckQualifiedName((string?)f ?? "", $"metadata.finalizers[{i++}]", errors);
            }
        }

        if (meta["ownerReferences"] is JsonArray owners)
        {
            var controllers = new List<string>();
            var i = 0;
            foreach (var o in owners.OfType<JsonObject>())
            {
                var at = $"metadata.ownerReferences[{i++}]";
                foreach (var (field, what) in new[] { ("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid") })
                {
                    if (string.IsNullOrEmpty((string?)o[field]))
                    {
                        errors.Add(("FieldValueInvalid", $"{at}.{field}", $"Invalid value: \"\": {what} must not be empty"));
                    }
                }

                if (o["controller"] is JsonValue c && c.TryGetValue<bool>(out var isController) && isController)
                {
                    controllers.Add($"{(string?)o["kind"]}/{(string?)o["name"]}");
                }
            }

            if (controllers.Count > 1)
            {
                errors.Add(("FieldValueInvalid", "metadata.ownerReferences",
                    $"Invalid value: {owners.ToJsonString()}: Only one reference can have Controller set to true. Found \"true\" in references for {string.Join(" and ", controllers)}"));
            }
        }

        return errors;
    }

    private static void CheckQualifiedName(string value, string field, List<(string, string, string)> errors)
    {
        var slash = value.Split('/');
        string name;
        if (slash.Length == 2)
        {
            var prefix = slash[0];
            name = slash[1];
            if (prefix.Length == 0)
            {
                errors.Add(("FieldValueInvalid", field, $"Invalid value: \"{value}\": prefix part must be non-empty"));
            }
            else if (prefix.Length > 253 || !Subdomain().IsMatch(prefix))
            {
                errors.Add(("FieldValueInvalid", field, $"Invalid value: \"{value}\": prefix part {SubdomainMessage}"));
            }
        }
        else if (slash.Length == 1)
        {
            name = value;
        }
        else
        {
            errors.Add(("FieldValueInvalid", field, $"Invalid value: \"{value}\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{QualifiedNameFormat}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
            return;
        }

        if (name.Length == 0)
        {
            errors.Add(("FieldValueInvalid", field, $"Invalid value: \"{value}\": name part must be non-empty"));
        }
        else if (name.Length > 63)
        {
            errors.Add(("FieldValueInvalid", field, $"Invalid value: \"{value}\": name part must be no more than 63 characters"));
        }
        else if (!QualifiedNamePart().IsMatch(name))
        {
            errors.Add(("FieldValueInvalid", field, $"Invalid value: \"{value}\": {QualifiedNameMessage}"));
        }
    }

    [GeneratedRegex("^" + QualifiedNameFormat + "$")]
    private static partial Regex QualifiedNamePart();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();
}
