using TorchSharp;

namespace Ferry.Trainer.Distributed;

/// <summary>Raw access to a CPU tensor's memory, for zero-copy socket I/O.</summary>
internal static class TensorMemory
{
    public static (IntPtr Pointer, long Length) FloatSpan(torch.Tensor tensor, string operation)
    {
        if (tensor.dtype != torch.ScalarType.Float32)
        {
            throw new ArgumentException($"{operation} needs a float32 tensor, got {tensor.dtype}", nameof(tensor));
        }

        var (pointer, bytes) = ByteSpan(tensor, operation);
        return (pointer, bytes / sizeof(float));
    }

    public static (IntPtr Pointer, long Length) ByteSpan(torch.Tensor tensor, string operation)
    {
        if (tensor.device_type != DeviceType.CPU)
        {
            throw new ArgumentException($"{operation} over TCP needs a CPU tensor, got one on {tensor.device}", nameof(tensor));
        }

        if (!tensor.is_contiguous())
        {
            throw new ArgumentException($"{operation} needs a contiguous tensor", nameof(tensor));
        }

        return (DataPointer(tensor), tensor.NumberOfElements * tensor.ElementSize);
    }

    /// <summary>Address of the tensor's first element (storage base plus storage offset).</summary>
    public static IntPtr DataPointer(torch.Tensor tensor)
    {
        var storage = tensor.storage<byte>();
        return storage.data_ptr() + (nint)(tensor.storage_offset() * tensor.ElementSize);
    }
}
