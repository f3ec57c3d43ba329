using TorchSharp;

namespace Ferry.Trainer.Tests.Distributed;

/// <summary>Exposes where a tensor's first element lives, to prove views share the flat buffer.</summary>
internal static class TensorMemoryProbe
{
    public static IntPtr Address(torch.Tensor tensor) => Ferry.Trainer.Distributed.TensorMemory.DataPointer(tensor);
}
