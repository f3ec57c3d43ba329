using System.Globalization;
using System.Net;
using System.Text;
using Ferry.Operator.Insight;

namespace Ferry.Operator.Agent;

/// <summary>
/// Rank 0's metric endpoint: `GET http://&lt;pod IP&gt;:&lt;port&gt;/ferry/v1/metrics?after=N` answers with the job's and the
/// pod's uid (so the operator can refuse an answer from any other pod), the agent's clock, the values recorded after
/// sequence number N (at most <see cref="MaxPoints"/>) and the latest progress. Read-only and bound to the pod's own
/// address: the agent holds no credentials and needs no RBAC; the operator pulls what it owns.
/// </summary>
public sealed class LiveMetricsServer : IAsyncDisposable
{
    /// <summary>The port rank 0 serves on unless FERRY_METRICS_PORT says otherwise.</summary>
    public const int DefaultPort = 9401;

    /// <summary>The most values one answer carries (the operator asks again from where it got to).</summary>
    public const int MaxPoints = 5000;

    private readonly HttpListener _listener = new();
    private readonly LiveMetricRecorder _recorder;
    private readonly string _jobUid;
    private readonly string _podUid;
    private readonly TimeProvider _time;
    private readonly Task _serving;

    private LiveMetricsServer(string address, int port, LiveMetricRecorder recorder, string jobUid, string podUid, TimeProvider time)
    {
        _recorder = recorder;
        _jobUid = jobUid;
        _podUid = podUid;
        _time = time;
        _listener.Prefixes.Add(string.Create(CultureInfo.InvariantCulture, $"http://{address}:{port}{LiveMetricsDocument.Path}/"));
        _listener.Start();
        _serving = ServeAsync();
    }

    /// <summary>Starts serving on <paramref name="address"/> (the pod IP); throws when the address cannot be bound.</summary>
    public static LiveMetricsServer Start(string address, int port, LiveMetricRecorder recorder, string jobUid, string podUid, TimeProvider time) =>
        new(address, port, recorder, jobUid, podUid, time);

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                Answer(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The operator went away mid-answer: it asks again at its next poll.
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        using var response = context.Response;
        if (context.Request.HttpMethod != "GET")
        {
            response.StatusCode = 405;
            return;
        }

        var afterText = context.Request.QueryString["after"];
        var after = long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
        var document = new LiveMetricsDocument(_jobUid, _podUid, _time.GetUtcNow(), _recorder.After(after, MaxPoints), _recorder.Progress);
        var body = Encoding.UTF8.GetBytes(document.Serialize());
        response.ContentType = "application/json";
        response.ContentLength64 = body.Length;
        response.OutputStream.Write(body);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (ObjectDisposedException)
        {
        }

        await _serving;
    }
}
