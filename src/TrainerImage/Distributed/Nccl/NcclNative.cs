using System.Runtime.InteropServices;

namespace Ferry.Trainer.Distributed.Nccl;

/// <summary>The 128-byte ncclUniqueId, passed by value to ncclCommInitRank.</summary>
[StructLayout(LayoutKind.Sequential, Size = 128)]
internal unsafe struct NcclUniqueId
{
    public const int Size = 128;

    public fixed byte Bytes[Size];
}

/// <summary>
/// P/Invoke declarations for the few NCCL entry points the trainer uses (nccl.h, NCCL 2.x ABI).
/// NOT RUN HERE: the development machines have no GPU and no libnccl; these signatures were checked
/// against nccl.h by review only.
/// </summary>
internal static partial class NcclNative
{
    private const string Library = "libnccl.so.2";

    /// <summary>ncclFloat32 in ncclDataType_t.</summary>
    public const int Float32 = 7;

    /// <summary>ncclUint8 in ncclDataType_t.</summary>
    public const int Uint8 = 1;

    /// <summary>ncclSum in ncclRedOp_t.</summary>
    public const int Sum = 0;

    [LibraryImport(Library, EntryPoint = "ncclGetUniqueId")]
    public static partial int GetUniqueId(out NcclUniqueId uniqueId);

    // ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank): the id is passed by value.
    [LibraryImport(Library, EntryPoint = "ncclCommInitRank")]
    public static partial int CommInitRank(out IntPtr comm, int worldSize, NcclUniqueId uniqueId, int rank);

    [LibraryImport(Library, EntryPoint = "ncclAllReduce")]
    public static partial int AllReduce(IntPtr sendBuffer, IntPtr receiveBuffer, nuint count, int dataType, int op, IntPtr comm, IntPtr stream);

    [LibraryImport(Library, EntryPoint = "ncclBroadcast")]
    public static partial int Broadcast(IntPtr sendBuffer, IntPtr receiveBuffer, nuint count, int dataType, int root, IntPtr comm, IntPtr stream);

    [LibraryImport(Library, EntryPoint = "ncclCommDestroy")]
    public static partial int CommDestroy(IntPtr comm);

    /// <summary>cudaSetDevice from the CUDA runtime: NCCL binds a communicator to the device current at ncclCommInitRank.</summary>
    [LibraryImport("libcudart.so.12", EntryPoint = "cudaSetDevice")]
    public static partial int CudaSetDevice(int device);

    [LibraryImport(Library, EntryPoint = "ncclGetErrorString")]
    public static partial IntPtr GetErrorString(int result);

    /// <summary>Throws with NCCL's own description when <paramref name="result"/> is not ncclSuccess.</summary>
    public static void Check(int result, string call)
    {
        if (result != 0)
        {
            var text = Marshal.PtrToStringAnsi(GetErrorString(result)) ?? "unknown error";
            throw new CollectiveException($"{call} failed with NCCL error {result}: {text}");
        }
    }
}
