using TorchSharp;
using TorchSharp.Modules;

namespace Ferry.Trainer.Training;

/// <summary>
/// All gradients in one contiguous float32 buffer: each parameter's <c>.grad</c> is set once to a view into it,
/// so backward accumulates straight into the buffer and the all-reduce works on it with no gather/scatter
/// copies. One extra slot after the gradients carries the rank's loss, so the same all-reduce also averages it.
/// </summary>
public sealed class FlatGradients : IDisposable
{
    private readonly List<torch.Tensor> _views = [];

    public FlatGradients(IReadOnlyList<Parameter> parameters, torch.Device device)
    {
        GradientCount = parameters.Sum(p => p.NumberOfElements);
        Buffer = torch.zeros(GradientCount + 1, torch.ScalarType.Float32, device);
        long offset = 0;
        foreach (var parameter in parameters)
        {
            var count = parameter.NumberOfElements;
            using var slice = Buffer.narrow(0, offset, count);
            var view = slice.view(parameter.shape);
            parameter.grad = view;
            _views.Add(view);
            offset += count;
        }

        LossSlot = Buffer.narrow(0, GradientCount, 1);
    }

    /// <summary>The gradients followed by the loss slot.</summary>
    public torch.Tensor Buffer { get; }

    /// <summary>Number of gradient elements (the buffer holds one more).</summary>
    public long GradientCount { get; }

    /// <summary>The last element of <see cref="Buffer"/>.</summary>
    public torch.Tensor LossSlot { get; }

    /// <summary>Zeroes gradients and loss in place; the views stay attached.</summary>
    public void Zero() => Buffer.zero_();

    public void Dispose()
    {
        foreach (var view in _views)
        {
            view.Dispose();
        }

        LossSlot.Dispose();
        Buffer.Dispose();
    }
}
