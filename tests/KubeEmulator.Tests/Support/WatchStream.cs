using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Tests.Support;

/// <summary>Reads a raw watch response line by line ({"type","object"} per line).</summary>
public sealed class WatchStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;
    private readonly CancellationTokenSource _cts = new();

    private WatchStream(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public int StatusCode => (int)_response.StatusCode;

    public static async Task<WatchStream> OpenAsync(HttpClient http, string pathAndQuery, string? accept = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery.TrimStart('/'));
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        return new WatchStream(response, new StreamReader(stream));
    }

    /// <summary>The next event, or null when the server ended the stream. Fails the test after <paramref name="timeout"/>.</summary>
    public async Task<(string Type, JsonObject Object)?> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(10));
        var line = await _reader.ReadLineAsync(cts.Token);
        if (line is null)
        {
            return null;
        }

        var evt = JsonNode.Parse(line)!.AsObject();
        return ((string)evt["type"]!, evt["object"]!.AsObject());
    }

    /// <summary>True when no event arrives within <paramref name="quiet"/> (real time; used only to assert absence).</summary>
    public async Task<bool> IsQuietAsync(TimeSpan quiet)
    {
        try
        {
            var next = await NextAsync(quiet);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _reader.Dispose();
        _response.Dispose();
        _cts.Dispose();
    }
}
