using System.Diagnostics;

namespace Ferry.Bench.Operator;

/// <summary>The `ferry operator` child process; its output goes to a log file and the last lines are kept for error messages.</summary>
internal sealed class OperatorProcess : IDisposable
{
    private readonly Queue<string> _tail = new();
    private readonly StreamWriter _log;

    public OperatorProcess(Process process, string logPath)
    {
        Process = process;
        _log = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Tail()
    {
        lock (_tail)
        {
            return string.Join('\n', _tail);
        }
    }

    public void Stop()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        Stop();
        Process.Dispose();
        lock (_tail)
        {
            _log.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            _log.WriteLine(line);
            _tail.Enqueue(line);
            while (_tail.Count > 40)
            {
                _tail.Dequeue();
            }
        }
    }
}

/// <summary>What is measured is broken: the run stops with a clear message and a non-zero exit.</summary>
internal sealed class BenchFailedException(string message) : Exception(message);
