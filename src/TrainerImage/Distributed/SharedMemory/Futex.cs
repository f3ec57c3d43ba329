using System.Runtime.InteropServices;

namespace Ferry.Trainer.Distributed.SharedMemory;

/// <summary>Linux futexes on a word in a shared mapping: a process sleeps until another one changes the word and wakes it.</summary>
internal static unsafe partial class Futex
{
    private const int FutexWait = 0; // not FUTEX_PRIVATE_FLAG: the word is shared between processes
    private const int FutexWake = 1;

    private static readonly long SysFutex = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => -1,
    };

    /// <summary>Whether this platform has the futex system call wired here.</summary>
    public static bool Supported => OperatingSystem.IsLinux() && SysFutex > 0;

    /// <summary>Sleeps while *<paramref name="word"/> == <paramref name="expected"/>, at most <paramref name="timeout"/> (spurious returns are fine: callers re-check).</summary>
    public static void Wait(int* word, int expected, TimeSpan timeout)
    {
        var spec = new Timespec { Seconds = (long)timeout.TotalSeconds, Nanoseconds = timeout.Ticks % TimeSpan.TicksPerSecond * 100 };
        _ = Syscall(SysFutex, word, FutexWait, expected, &spec, null, 0);
    }

    /// <summary>Wakes every process asleep on <paramref name="word"/>.</summary>
    public static void WakeAll(int* word) => _ = Syscall(SysFutex, word, FutexWake, int.MaxValue, null, null, 0);

    // glibc's soname: "libc.so" is a linker script where the C headers are installed, so "libc" alone is not
    // loadable everywhere; TorchSharp's native libraries need glibc anyway.
    [LibraryImport("libc.so.6", EntryPoint = "syscall")]
    private static partial long Syscall(long number, int* word, int operation, int value, Timespec* timeout, int* word2, int value3);

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
