using System.Runtime.InteropServices;

namespace Ferry.Operator.Backends.Local;

/// <summary>This process's user and group ids (what container mode runs the containers as).</summary>
internal static class UnixIds
{
    /// <summary>The real user id.</summary>
    public static uint UserId() => GetUserId();

    /// <summary>The real group id.</summary>
    public static uint GroupId() => GetGroupId();

    // DllImport rather than LibraryImport: the source-generated stub needs unsafe code, which the project does not enable.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "getuid")]
    private static extern uint GetUserId();

    [DllImport("libc", EntryPoint = "getgid")]
    private static extern uint GetGroupId();
#pragma warning restore SYSLIB1054
}
