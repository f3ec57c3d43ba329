using System.Numerics;
using System.Runtime.InteropServices;

namespace Ferry.Trainer.Distributed;

/// <summary>Vectorised element-wise kernels for the reduction.</summary>
internal static class VectorMath
{
    /// <summary>destination[i] += source[i].</summary>
    public static void Add(Span<float> destination, ReadOnlySpan<float> source)
    {
        var d = MemoryMarshal.Cast<float, Vector<float>>(destination);
        var s = MemoryMarshal.Cast<float, Vector<float>>(source[..destination.Length]);
        for (var i = 0; i < d.Length; i++)
        {
            d[i] += s[i];
        }

        for (var i = d.Length * Vector<float>.Count; i < destination.Length; i++)
        {
            destination[i] += source[i];
        }
    }

    /// <summary>destination[i] = (destination[i] + source[i]) * scale, in one pass.</summary>
    public static void AddThenScale(Span<float> destination, ReadOnlySpan<float> source, float scale)
    {
        var d = MemoryMarshal.Cast<float, Vector<float>>(destination);
        var s = MemoryMarshal.Cast<float, Vector<float>>(source[..destination.Length]);
        var factor = new Vector<float>(scale);
        for (var i = 0; i < d.Length; i++)
        {
            d[i] = (d[i] + s[i]) * factor;
        }

        for (var i = d.Length * Vector<float>.Count; i < destination.Length; i++)
        {
            destination[i] = (destination[i] + source[i]) * scale;
        }
    }
}
