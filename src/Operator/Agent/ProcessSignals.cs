using System.Runtime.InteropServices;

namespace Ferry.Operator.Agent;

/// <summary>Sends POSIX signals to a child process (.NET can only SIGKILL through <c>Process.Kill</c>).</summary>
internal static class ProcessSignals
{
    private const int SigTerm = 15;

    /// <summary>Asks process <paramref name="processId"/> to stop (SIGTERM); false when it is already gone.</summary>
    public static bool Terminate(int processId) => !OperatingSystem.IsWindows() && Kill(processId, SigTerm) == 0;

    // DllImport rather than LibraryImport: the source-generated stub needs unsafe code, which the project does not enable.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int processId, int signal);
#pragma warning restore SYSLIB1054
}
