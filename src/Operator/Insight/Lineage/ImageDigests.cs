using System.Text.RegularExpressions;

namespace Ferry.Operator.Insight.Lineage;

/// <summary>The image digest in a container status's imageID.</summary>
public static partial class ImageDigests
{
    /// <summary>
    /// `sha256:…` from an imageID as container runtimes report it (`docker-pullable://repo@sha256:…`,
    /// `repo@sha256:…`, or a bare `sha256:…` image id); null when there is none (an empty id, a runtime that reports
    /// only a tag).
    /// </summary>
    public static string? Of(string? imageId)
    {
        if (string.IsNullOrEmpty(imageId))
        {
            return null;
        }

        var match = DigestPattern().Match(imageId);
        return match.Success ? "sha256:" + match.Groups[1].Value.ToLowerInvariant() : null;
    }

    [GeneratedRegex(@"(?:^|@|//)sha256:([0-9a-fA-F]{64})$", RegexOptions.CultureInvariant)]
    private static partial Regex DigestPattern();
}
