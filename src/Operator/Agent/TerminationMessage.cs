using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Operator.Agent;

/// <summary>
/// What the agent leaves in the container's termination message file when the training process ends, as JSON:
/// the exit code, the first 1024 bytes of `/opt/ml/output/failure` (SageMaker's FailureReason), the latest metric
/// values, and the model URI when replica 0 uploaded it. The operator reads it from the pod status
/// (`state.terminated.message`); Kubernetes keeps at most 4096 bytes, so metrics are dropped from the end if needed.
/// Metrics therefore reach the status when a replica ends, not while it runs.
/// </summary>
public sealed record TerminationMessage(
    int ExitCode,
    string? FailureReason = null,
    IReadOnlyList<ObservedMetric>? Metrics = null,
    string? Model = null)
{
    /// <summary>SageMaker keeps the first 1024 bytes of the failure file.</summary>
    public const int FailureReasonBytes = 1024;

    /// <summary>Kubernetes truncates termination messages beyond 4096 bytes.</summary>
    public const int MaximumBytes = 4096;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>JSON no longer than <see cref="MaximumBytes"/>.</summary>
    public string Serialize()
    {
        var message = this;
        while (true)
        {
            var json = JsonSerializer.Serialize(message, Options);
            if (Encoding.UTF8.GetByteCount(json) <= MaximumBytes || message.Metrics is not { Count: > 0 })
            {
                return json;
            }

            message = message with { Metrics = [.. message.Metrics.Take(message.Metrics.Count - 1)] };
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
