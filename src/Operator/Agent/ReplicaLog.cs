using System.Text;

namespace Ferry.Operator.Agent;

/// <summary>
/// The training process's output as the agent keeps it for the post-mortem: every line (stdout and stderr, in the
/// order received, secrets masked) in a local file that is copied to `&lt;output&gt;/&lt;job&gt;/attempt-N/algo-K.log` when
/// the replica ends, and the last <see cref="TailLines"/> lines for the termination message.
/// </summary>
public sealed class ReplicaLog : IDisposable
{
    /// <summary>How many of the last lines the tail keeps.</summary>
    public const int TailLines = 20;

    /// <summary>The most bytes (UTF-8) of the tail; older lines are dropped first, an overlong line is cut at its start.</summary>
    public const int TailBytes = 2048;

    private readonly Queue<string> _tail = new();
    private readonly Lock _gate = new();
    private readonly SecretRedaction _redaction;
    private readonly StreamWriter? _file;

    /// <summary>Writes the log to <paramref name="path"/> (created with its directory), or keeps only the tail when null.</summary>
    public ReplicaLog(string? path, SecretRedaction redaction)
    {
        _redaction = redaction;
        if (path is not null)
        {
            try
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
                _file = new StreamWriter(path, append: false, new UTF8Encoding(false));
                Path = path;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A root the training user cannot write to loses the log copy, not the training run or the tail.
                _file = null;
            }
        }
    }

    /// <summary>The local file the full log is written to, or null.</summary>
    public string? Path { get; }

    /// <summary>Records one output line.</summary>
    public void Add(string line)
    {
        var masked = _redaction.Apply(line);
        lock (_gate)
        {
            _file?.WriteLine(masked);
            _tail.Enqueue(masked);
            if (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }
    }

    /// <summary>Flushes the file so it can be copied.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            _file?.Flush();
        }
    }

    /// <summary>The last lines, at most <paramref name="maxBytes"/> UTF-8 bytes, newest kept; null when there was no output.</summary>
    public string? Tail(int maxBytes = TailBytes)
    {
        string[] lines;
        lock (_gate)
        {
            lines = [.. _tail];
        }

        return Fit(lines, maxBytes);
    }

    /// <summary>
    /// <paramref name="lines"/> joined with newlines, dropping the oldest until the text fits <paramref name="maxBytes"/>;
    /// a single line longer than that keeps its end (the error is usually last). Null when nothing is left.
    /// </summary>
    public static string? Fit(IReadOnlyList<string> lines, int maxBytes)
    {
        if (maxBytes <= 0 || lines.Count == 0)
        {
            return null;
        }

        var kept = new List<string>();
        var bytes = 0;
        for (var i = lines.Count - 1; i >= 0; i--)
        {
            var size = Encoding.UTF8.GetByteCount(lines[i]) + (kept.Count > 0 ? 1 : 0);
            if (bytes + size > maxBytes)
            {
                if (kept.Count == 0)
                {
                    kept.Add(EndOf(lines[i], maxBytes));
                }

                break;
            }

            kept.Add(lines[i]);
            bytes += size;
        }

        kept.Reverse();
        var text = string.Join('\n', kept);
        return text.Length == 0 ? null : text;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
        }
    }

    /// <summary>The last characters of <paramref name="text"/> that fit <paramref name="maxBytes"/> UTF-8 bytes, never splitting a character.</summary>
    private static string EndOf(string text, int maxBytes)
    {
        var start = text.Length;
        var bytes = 0;
        while (start > 0)
        {
            var width = char.IsLowSurrogate(text[start - 1]) && start > 1 ? 2 : 1;
            var size = Encoding.UTF8.GetByteCount(text.AsSpan(start - width, width));
            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            start -= width;
        }

        return text[start..];
    }
}
