namespace Ferry.Operator.Storage;

/// <summary>
/// A parsed storage URI: `s3://bucket/prefix` or `file:///abs/dir` / `file://./rel/dir` (relative to the working directory).
/// The prefix is treated as a directory: objects are the keys under `prefix/`, named relative to it.
/// </summary>
/// <param name="Scheme">`s3` or `file`.</param>
/// <param name="Bucket">The S3 bucket; empty for `file`.</param>
/// <param name="Prefix">The S3 key prefix without surrounding slashes, or the absolute local directory for `file`.</param>
public sealed record ObjectLocation(string Scheme, string Bucket, string Prefix)
{
    /// <summary>Parses <paramref name="uri"/>; <paramref name="field"/> names the spec field in error messages.</summary>
    public static ObjectLocation Parse(string uri, string field = "uri", string? workingDirectory = null)
    {
        if (string.IsNullOrWhiteSpace(uri))
        {
            throw new FormatException($"{field} is empty; set it to s3://bucket/prefix or file://path.");
        }

        if (uri.StartsWith("s3://", StringComparison.Ordinal))
        {
            var rest = uri["s3://".Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var bucket = slash < 0 ? rest : rest[..slash];
            var prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
            if (bucket.Length == 0)
            {
                throw new FormatException($"{field} '{uri}' has no bucket; write it as s3://bucket/prefix.");
            }

            return new ObjectLocation("s3", bucket, prefix);
        }

        if (uri.StartsWith("file://", StringComparison.Ordinal))
        {
            var path = uri["file://".Length..];
            if (path.Length == 0)
            {
                throw new FormatException($"{field} '{uri}' has no path; write file:///absolute/dir or file://./relative/dir.");
            }

            var full = Path.IsPathRooted(path)
                ? Path.GetFullPath(path)
                : Path.GetFullPath(Path.Combine(workingDirectory ?? Directory.GetCurrentDirectory(), path));
            return new ObjectLocation("file", "", full.Length > 1 ? full.TrimEnd('/') : full);
        }

        throw new FormatException($"{field} '{uri}' is neither s3://bucket/prefix nor file://path; use one of those schemes.");
    }

    /// <summary>The location of <paramref name="relative"/> under this one (joined with `/`).</summary>
    public ObjectLocation Child(string relative)
    {
        var trimmed = relative.Trim('/');
        if (trimmed.Length == 0)
        {
            return this;
        }

        return this with { Prefix = Prefix.Length == 0 ? trimmed : Prefix.TrimEnd('/') + "/" + trimmed };
    }

    /// <summary>The URI form (`s3://bucket/prefix` or `file:///dir`).</summary>
    public override string ToString() => Scheme == "s3"
        ? (Prefix.Length == 0 ? $"s3://{Bucket}" : $"s3://{Bucket}/{Prefix}")
        : "file://" + Prefix;
}
