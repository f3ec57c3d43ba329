using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Ferry.KubeEmulator.Schema.Cel;

/// <summary>Raised when CEL rules cannot be evaluated because Node.js or the CEL package is missing.</summary>
public sealed class CelUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A long-lived `node cel-server.mjs` process that evaluates CEL with @bufbuild/cel over newline-delimited JSON.</summary>
/// <remarks>The process starts on first use, serves concurrent requests matched by id, and is restarted if it dies.</remarks>
internal sealed class CelProcess : IAsyncDisposable
{
    /// <summary>Overrides the folder holding cel-server.mjs and node_modules.</summary>
    public const string CelDirectoryVariable = "FERRY_CEL_HELPER_DIR";

    private const string ScriptName = "cel-server.mjs";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly StringBuilder _stderr = new();
    private Connection? _connection;
    private long _nextId;
    private readonly string? _celDirectory;
    private readonly string? _searchPath;
    private bool _disposed;

    /// <param name="celDirectory">The folder with cel-server.mjs and node_modules; null to locate it (see <see cref="LocateCelDirectory"/>).</param>
    /// <param name="searchPath">Where to look for `node` (PATH syntax); null for the PATH environment variable.</param>
    public CelProcess(string? celDirectory = null, string? searchPath = null) => (_celDirectory, _searchPath) = (celDirectory, searchPath);

    /// <summary>The id of the running Node process, or null when none runs (for tests that kill it).</summary>
    public int? ProcessId => _connection?.Process is { HasExited: false } p ? p.Id : null;

    /// <summary>A running process with the requests waiting for its answers.</summary>
    private sealed record Connection(Process Process, ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> Pending);

    /// <summary>Sends one request and returns its response; restarts the process once if it died meanwhile.</summary>
    public async Task<JsonObject> SendAsync(JsonObject request, CancellationToken cancellationToken)
    {
        try
        {
            return await SendOnceAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The process exited (killed, crashed): start a fresh one and try once more.
            return await SendOnceAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<JsonObject> SendOnceAsync(JsonObject request, CancellationToken cancellationToken)
    {
        var (process, pending) = await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        return await ExchangeAsync(process, pending, request, cancellationToken).ConfigureAwait(false);
    }

    private async Task<JsonObject> ExchangeAsync(Process process, ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> pending,
        JsonObject request, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextId);
        request["id"] = id;
        var completion = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = completion;
        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (process.HasExited)
                {
                    throw new IOException("the CEL process has exited");
                }

                await process.StandardInput.WriteLineAsync(request.ToJsonString().AsMemory(), cancellationToken).ConfigureAwait(false);
                await process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }

            var response = await completion.Task.WaitAsync(RequestTimeout, cancellationToken).ConfigureAwait(false);
            if (response["failure"] is JsonNode failure)
            {
                throw new InvalidOperationException("The CEL evaluator failed: " + failure);
            }

            return response;
        }
        catch (TimeoutException e)
        {
            throw new IOException("the CEL process did not answer within " + RequestTimeout.TotalSeconds + " s", e);
        }
        finally
        {
            pending.TryRemove(id, out _);
        }
    }

    private async Task<(Process, ConcurrentDictionary<long, TaskCompletionSource<JsonObject>>)> EnsureStartedAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_connection is { Process.HasExited: false } running)
        {
            return (running.Process, running.Pending);
        }

        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is { Process.HasExited: false } started)
            {
                return (started.Process, started.Pending);
            }

            _connection?.Process.Dispose();
            var pending = new ConcurrentDictionary<long, TaskCompletionSource<JsonObject>>();
            var process = Start(pending);
            _connection = new Connection(process, pending);
            try
            {
                await ExchangeAsync(process, pending, new JsonObject { ["ping"] = true }, cancellationToken).WaitAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already exited.
                }

                throw new CelUnavailableException($"The CEL evaluator (node {ScriptName}) did not start: {StderrText()}", e);
            }

            return (process, pending);
        }
        finally
        {
            _startLock.Release();
        }
    }

    private Process Start(ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> pending)
    {
        var node = FindNode(_searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "") ?? throw new CelUnavailableException(
            "CRD validation rules (x-kubernetes-validations) need Node.js, but `node` is not on PATH. "
            + "Install it (apt-get install nodejs npm; scripts/setup.sh does this) and run `npm ci` in tests/KubeEmulator/cel.");
        var dir = _celDirectory ?? LocateCelDirectory();
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "@bufbuild", "cel")))
        {
            throw new CelUnavailableException(
                $"The CEL package @bufbuild/cel is not installed in {dir}: run `npm ci` there (scripts/setup.sh does this).");
        }

        var info = new ProcessStartInfo(node)
        {
            WorkingDirectory = dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
        };
        info.ArgumentList.Add(Path.Combine(dir, ScriptName));
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        lock (_stderr)
        {
            _stderr.Clear();
        }

        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (_stderr)
            {
                if (_stderr.Length < 8192)
                {
                    _stderr.AppendLine(e.Data);
                }
            }
        };
        if (!process.Start())
        {
            throw new CelUnavailableException($"Could not start {node} {ScriptName}.");
        }

        process.BeginErrorReadLine();
        _ = Task.Run(() => ReadResponsesAsync(process, pending));
        return process;
    }

    private async Task ReadResponsesAsync(Process process, ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> pending)
    {
        try
        {
            while (await process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (JsonNode.Parse(line) is JsonObject response && response["id"] is JsonValue idValue
                    && idValue.TryGetValue<long>(out var id) && pending.TryGetValue(id, out var completion))
                {
                    completion.TrySetResult(response);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or System.Text.Json.JsonException)
        {
            // Treated like the end of the stream below.
        }

        // The process is gone: fail whatever was waiting on it so callers restart it.
        foreach (var (_, completion) in pending)
        {
            completion.TrySetException(new IOException("the CEL process exited: " + StderrText()));
        }
    }

    private string StderrText()
    {
        lock (_stderr)
        {
            return _stderr.Length == 0 ? "(no output)" : _stderr.ToString().Trim();
        }
    }

    private static string? FindNode(string searchPath)
    {
        foreach (var dir in searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in OperatingSystem.IsWindows() ? new[] { "node.exe" } : ["node", "nodejs"])
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>FERRY_CEL_HELPER_DIR, else tests/KubeEmulator/cel of the checkout found by walking up to Operator.sln.</summary>
    public static string LocateCelDirectory()
    {
        if (Environment.GetEnvironmentVariable(CelDirectoryVariable) is { Length: > 0 } overridden)
        {
            return Path.GetFullPath(overridden);
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "KubeEmulator", "cel");
            }
        }

        throw new CelUnavailableException(
            $"Cannot find the CEL evaluator: no Operator.sln above {AppContext.BaseDirectory}. Set {CelDirectoryVariable} to the tests/KubeEmulator/cel folder.");
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _startLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_connection?.Process is { } process)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        // Closing stdin makes the server exit on its own; kill it if it does not.
                        process.StandardInput.Close();
                        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                        try
                        {
                            await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            process.Kill(entireProcessTree: true);
                        }
                    }
                }
                catch (InvalidOperationException)
                {
                    // Never started or already reaped.
                }

                process.Dispose();
                _connection = null;
            }
        }
        finally
        {
            _startLock.Release();
        }

        _startLock.Dispose();
        _writeLock.Dispose();
    }
}
