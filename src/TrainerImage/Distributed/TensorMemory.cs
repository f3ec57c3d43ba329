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
        // storage<T>() converts the tensor to T first; asking for its own element type keeps it an alias, not a copy.
        var storageBase = tensor.dtype switch
        {
            torch.ScalarType.Float32 => tensor.storage<float>().data_ptr(),
            torch.ScalarType.Float64 => tensor.storage<double>().data_ptr(),
            torch.ScalarType.Int64 => tensor.storage<long>().data_ptr(),
            torch.ScalarType.Int32 => tensor.storage<int>().data_ptr(),
            torch.ScalarType.Byte => tensor.storage<byte>().data_ptr(),
            torch.ScalarType.Bool => tensor.storage<bool>().data_ptr(),
            _ => throw new ArgumentException($"raw access to {tensor.dtype} tensors is not supported", nameof(tensor)),
        };
        return storageBase + (nint)(tensor.storage_offset() * tensor.ElementSize);
    }
}
