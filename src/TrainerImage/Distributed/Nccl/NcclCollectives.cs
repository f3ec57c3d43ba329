using TorchSharp;

namespace Ferry.Trainer.Distributed.Nccl;

/// <summary>
/// GPU collectives through NCCL: rank 0 creates the unique id, the TCP ring (already formed by the rendezvous)
/// broadcasts its 128 bytes, every rank joins the communicator, and gradients are summed in place on the
/// device with ncclAllReduce on the flat buffer's device pointer, then scaled by 1/n.
/// Selected only when torch.cuda.is_available(). NOT RUN HERE: there is no GPU on the development
/// machines; this path compiles and was reviewed, but it has never executed (see README.md).
/// </summary>
public sealed unsafe class NcclCollectives : ICollectives
{
    private readonly RingAllReduce _bootstrap;
    private readonly IntPtr _comm;

    // Ops are queued on the legacy default stream (null), the stream TorchSharp's own kernels use,
    // so they are ordered after backward and before the optimiser step without extra synchronisation.
    private readonly IntPtr _stream = IntPtr.Zero;

    public NcclCollectives(RingAllReduce bootstrap, int deviceIndex)
    {
        _bootstrap = bootstrap;
        var cudaResult = NcclNative.CudaSetDevice(deviceIndex);
        if (cudaResult != 0)
        {
            throw new CollectiveException($"cudaSetDevice({deviceIndex}) failed with CUDA error {cudaResult}; check LOCAL_RANK against the GPUs visible to this replica");
        }

        NcclUniqueId id = default;
        if (bootstrap.Rank == 0)
        {
            NcclNative.Check(NcclNative.GetUniqueId(out id), "ncclGetUniqueId");
        }

        bootstrap.Broadcast(new Span<byte>(id.Bytes, NcclUniqueId.Size));
        NcclNative.Check(NcclNative.CommInitRank(out _comm, bootstrap.WorldSize, id, bootstrap.Rank), "ncclCommInitRank");
    }

    public int Rank => _bootstrap.Rank;

    public int WorldSize => _bootstrap.WorldSize;

    public void AllReduceMean(torch.Tensor buffer)
    {
        if (WorldSize == 1)
        {
            return;
        }

        RequireCudaContiguous(buffer, torch.ScalarType.Float32);
        var pointer = TensorMemory.DataPointer(buffer);
        NcclNative.Check(NcclNative.AllReduce(pointer, pointer, (nuint)buffer.NumberOfElements, NcclNative.Float32, NcclNative.Sum, _comm, _stream), "ncclAllReduce");
        buffer.div_(WorldSize);
    }

    public void Broadcast(torch.Tensor buffer)
    {
        if (WorldSize == 1)
        {
            return;
        }

        RequireCudaContiguous(buffer, null);
        var pointer = TensorMemory.DataPointer(buffer);
        var bytes = (nuint)(buffer.NumberOfElements * buffer.ElementSize);
        NcclNative.Check(NcclNative.Broadcast(pointer, pointer, bytes, NcclNative.Uint8, 0, _comm, _stream), "ncclBroadcast");
    }

    public void Broadcast(Span<byte> buffer) => _bootstrap.Broadcast(buffer);

    public void Barrier() => _bootstrap.Barrier();

    private static void RequireCudaContiguous(torch.Tensor buffer, torch.ScalarType? dtype)
    {
        if (buffer.device_type != DeviceType.CUDA || !buffer.is_contiguous() || (dtype is { } type && buffer.dtype != type))
        {
            throw new ArgumentException($"NCCL needs a contiguous CUDA tensor{(dtype is null ? "" : $" of {dtype}")}, got {buffer.dtype} on {buffer.device}", nameof(buffer));
        }
    }

    public void Dispose()
    {
        if (_comm != IntPtr.Zero)
        {
            NcclNative.CommDestroy(_comm);
        }

        _bootstrap.Dispose();
    }
}
