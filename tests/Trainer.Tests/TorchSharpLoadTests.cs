using TorchSharp;

namespace Ferry.Trainer.Tests;

public sealed class TorchSharpLoadTests
{
    [Fact]
    public void TorchSharp_loads_and_multiplies_matrices()
    {
        using var a = torch.tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        using var b = torch.tensor(new float[] { 5, 6, 7, 8 }, [2, 2]);
        using var product = a.matmul(b);
        Assert.Equal([19f, 22f, 43f, 50f], product.data<float>().ToArray());
    }

    [Fact]
    public void On_an_old_libstdcxx_the_patched_library_reaches_this_test_output()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the fix, and its files, exist only on Linux
        }

        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        var systemHasVersion = File.ReadAllText("/lib/x86_64-linux-gnu/libstdc++.so.6", System.Text.Encoding.Latin1).Contains("GLIBCXX_3.4.32\0", StringComparison.Ordinal);
        var compat = Path.Combine(native, "libferry_glibcxx_compat.so");
        Assert.Equal(!systemHasVersion, File.Exists(compat));
        if (!systemHasVersion)
        {
            // The copy next to it must be the patched one (it needs the compat library), not the package's.
            var library = File.ReadAllBytes(Path.Combine(native, "libLibTorchSharp.so"));
            Assert.True(library.AsSpan().IndexOf("libferry_glibcxx_compat.so"u8) >= 0);
        }
    }
}
