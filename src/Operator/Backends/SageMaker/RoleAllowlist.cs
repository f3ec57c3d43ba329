using System.Text.RegularExpressions;

namespace Ferry.Operator.Backends.SageMaker;

/// <summary>
/// Which IAM roles a namespace may pass to SageMaker: ARN globs (<c>*</c> any characters, <c>?</c> one) by namespace, the
/// key <see cref="AnyNamespace"/> for namespaces not listed. Nothing configured allows nothing: passing a role is the
/// platform team's decision, never the manifest author's.
/// </summary>
public sealed class RoleAllowlist
{
    /// <summary>The key whose globs apply to every namespace without an entry of its own.</summary>
    public const string AnyNamespace = "*";

    private readonly Dictionary<string, (string Glob, Regex Pattern)[]> _patterns;

    public RoleAllowlist(IReadOnlyDictionary<string, IReadOnlyList<string>> allowed) =>
        _patterns = allowed.ToDictionary(
            e => e.Key,
            e => e.Value.Where(g => !string.IsNullOrWhiteSpace(g)).Select(g => (g.Trim(), Compile(g))).ToArray(),
            StringComparer.Ordinal);

    /// <summary>Whether <paramref name="roleArn"/> may be passed by jobs in <paramref name="ns"/>.</summary>
    public bool Allows(string ns, string roleArn) => GlobsFor(ns).Any(p => p.Pattern.IsMatch(roleArn));

    /// <summary>Why <paramref name="roleArn"/> is refused in <paramref name="ns"/> (naming the field and the fix), or null.</summary>
    public string? Refusal(string ns, string roleArn)
    {
        if (Allows(ns, roleArn))
        {
            return null;
        }

        var globs = GlobsFor(ns);
        var allowed = globs.Length == 0
            ? $"no role is allowed in namespace {ns}"
            : $"namespace {ns} may use {string.Join(", ", globs.Select(g => g.Glob))}";
        return $"spec.sageMaker.roleArn {roleArn} is not allowed by the operator's role allowlist ({allowed}). " +
            "Use a role the allowlist permits for this namespace, or ask the platform team to add it to the Helm value " +
            $"sageMaker.allowedRoles.{ns} (or sageMaker.allowedRoles.\"*\" for every namespace).";
    }

    private (string Glob, Regex Pattern)[] GlobsFor(string ns) =>
        _patterns.TryGetValue(ns, out var own) ? own : _patterns.TryGetValue(AnyNamespace, out var any) ? any : [];

    private static Regex Compile(string glob) => new(
        "^" + Regex.Escape(glob.Trim()).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
        RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}
