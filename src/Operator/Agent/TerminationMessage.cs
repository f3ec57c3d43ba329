using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Operator.Agent;

/// <summary>
/// What the agent leaves in the container's termination message file when the training process ends, as JSON:
/// the exit code, the first 1024 bytes of `/opt/ml/output/failure` (SageMaker's FailureReason), the latest metric
/// values, the model URI when replica 0 uploaded it, and for the post-mortem the last lines of the output
/// (<see cref="LogTail"/>), where the full log was copied (<see cref="Logs"/>) and the latest complete checkpoint
/// synced (<see cref="Checkpoint"/>). The operator reads it from the pod status (`state.terminated.message`);
/// Kubernetes keeps at most 4096 bytes, so <see cref="Serialize"/> makes it fit: metrics go first (from the end), then
/// the input listing (from the end), then the oldest lines of the tail, then the end of the failure reason. Replica 0 adds lineage (the inputs it listed, which give way after the metrics; the
/// model's size and SHA-256) and where it wrote the training report. Metrics and checkpoints therefore reach the status
/// when a replica ends, not while it runs.
/// </summary>
public sealed record TerminationMessage(
    int ExitCode,
    string? FailureReason = null,
    IReadOnlyList<ObservedMetric>? Metrics = null,
    string? Model = null)
{
    /// <summary>The last lines of the training process's output (at most 20 lines / 2 KB, secrets masked), on failure.</summary>
    public string? LogTail { get; init; }

    /// <summary>Where the replica's full log was copied (`&lt;output&gt;/&lt;job&gt;/attempt-N/algo-K.log`), or null.</summary>
    public string? Logs { get; init; }

    /// <summary>The latest complete checkpoint the agent synced to `spec.checkpoint.uri`, or null.</summary>
    public CheckpointReport? Checkpoint { get; init; }

    /// <summary>Lineage (replica 0): the input channels as `agent init` listed them; gives way after the metrics.</summary>
    public IReadOnlyList<InputReport>? Inputs { get; init; }

    /// <summary>Lineage (replica 0 on success): size and SHA-256 of the uploaded model.tar.gz.</summary>
    public ModelDigest? ModelDigest { get; init; }

    /// <summary>Where replica 0 wrote the training report (report.html), or null.</summary>
    public string? Report { get; init; }

    /// <summary>
    /// When the training process ended. The container ends later (the agent syncs checkpoints, copies the log and
    /// writes the report first), so this, not the container's end, tells which replica of a gang failed first.
    /// </summary>
    public DateTimeOffset? ExitedAt { get; init; }

    /// <summary>The process ended after the container was told to stop (SIGTERM), not on its own.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Stopped { get; init; }

    /// <summary>SageMaker keeps the first 1024 bytes of the failure file.</summary>
    public const int FailureReasonBytes = 1024;

    /// <summary>Kubernetes truncates termination messages beyond 4096 bytes.</summary>
    public const int MaximumBytes = 4096;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Output text is mostly ASCII with quotes and angle brackets: escaping them as \uXXXX would waste the 4 KB.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>JSON no longer than <see cref="MaximumBytes"/> (see the order of what gives way in the summary).</summary>
    public string Serialize()
    {
        var message = this;
        while (true)
        {
            var json = JsonSerializer.Serialize(message, Options);
            var size = Encoding.UTF8.GetByteCount(json);
            if (size <= MaximumBytes)
            {
                return json;
            }

            if (message.Metrics is { Count: > 0 } metrics)
            {
                message = message with { Metrics = metrics.Count == 1 ? null : [.. metrics.Take(metrics.Count - 1)] };
            }
            else if (message.Inputs is { Count: > 0 } inputs)
            {
                message = message with { Inputs = inputs.Count == 1 ? null : [.. inputs.Take(inputs.Count - 1)] };
            }
            else if (message.LogTail is { Length: > 0 } tail)
            {
                var lines = tail.Split('\n');
                message = message with
                {
                    LogTail = lines.Length > 1
                        ? string.Join('\n', lines.Skip(1))
                        : ReplicaLog.Fit(lines, Encoding.UTF8.GetByteCount(tail) - (size - MaximumBytes) - 16),
                };
            }
            else if (message.FailureReason is { Length: > 0 } reason)
            {
                var cut = Math.Max(0, reason.Length - Math.Max(16, (size - MaximumBytes) / 2));
                cut = cut > 0 && char.IsHighSurrogate(reason[cut - 1]) ? cut - 1 : cut;
                message = message with { FailureReason = cut == 0 ? null : reason[..cut] };
            }
            else
            {
                // Only short fields are left (URIs, numbers): nothing else can give way.
                return json;
            }
        }
    }

    /// <summary>
    /// Reads a termination message. A message that is not ours (plain text written by an image that does not use
    /// the agent) is taken whole as the failure reason.
    /// </summary>
    public static TerminationMessage? Parse(string? text, int exitCode)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (text.TrimStart().StartsWith('{'))
        {
            try
            {
                var parsed = JsonSerializer.Deserialize<TerminationMessage>(text, Options);
                if (parsed is not null)
                {
                    return parsed;
                }
            }
            catch (JsonException)
            {
                // Not ours: fall through to plain text.
            }
        }

        return new TerminationMessage(exitCode, text.Trim());
    }

    /// <summary>The first 1024 bytes of <paramref name="path"/> as text (cut at a character boundary), or null when absent or empty.</summary>
    public static string? ReadFailureReason(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        using var stream = File.OpenRead(path);
        var buffer = new byte[FailureReasonBytes];
        var length = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        // Back off to a UTF-8 boundary so a multi-byte character is never split.
        if (length == FailureReasonBytes)
        {
            var cut = length;
            while (cut > 0 && (buffer[cut - 1] & 0xC0) == 0x80)
            {
                cut--;
            }

            if (cut > 0 && buffer[cut - 1] >= 0xC0)
            {
                var lead = buffer[cut - 1];
                var needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
                length = length - (cut - 1) >= needed ? length : cut - 1;
            }
        }

        var text = Encoding.UTF8.GetString(buffer, 0, length).Trim();
        return text.Length == 0 ? null : text;
    }
}
