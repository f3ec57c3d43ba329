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

    /// <summary>first[i] + second[i], times scale, stored into both destinations (either may alias a source).</summary>
    public static void SumThenScale(ReadOnlySpan<float> first, ReadOnlySpan<float> second, float scale, Span<float> destination, Span<float> copy)
    {
        var length = destination.Length;
        var a = MemoryMarshal.Cast<float, Vector<float>>(first[..length]);
        var b = MemoryMarshal.Cast<float, Vector<float>>(second[..length]);
        var d = MemoryMarshal.Cast<float, Vector<float>>(destination);
        var c = MemoryMarshal.Cast<float, Vector<float>>(copy[..length]);
        var factor = new Vector<float>(scale);
        for (var i = 0; i < d.Length; i++)
        {
            var value = (a[i] + b[i]) * factor;
            d[i] = value;
            c[i] = value;
        }

        for (var i = d.Length * Vector<float>.Count; i < length; i++)
        {
            var value = (first[i] + second[i]) * scale;
            destination[i] = value;
            copy[i] = value;
        }
    }

    /// <summary>values[i] *= scale, and copy[i] = the result.</summary>
    public static void ScaleThenCopy(Span<float> values, float scale, Span<float> copy)
    {
        var v = MemoryMarshal.Cast<float, Vector<float>>(values);
        var c = MemoryMarshal.Cast<float, Vector<float>>(copy[..values.Length]);
        var factor = new Vector<float>(scale);
        for (var i = 0; i < v.Length; i++)
        {
            var value = v[i] * factor;
            v[i] = value;
            c[i] = value;
        }

        for (var i = v.Length * Vector<float>.Count; i < values.Length; i++)
        {
            values[i] *= scale;
            copy[i] = values[i];
        }
    }
}
