using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Kubelet;

namespace Ferry.Bench.Operator;

/// <summary>Pod runtime for the benchmark: init containers finish at once, main containers run for a fixed time and exit 0.</summary>
internal sealed class FixedRunTime(TimeSpan runFor) : IPodRuntime
{
    public async Task<ContainerOutcome> RunContainerAsync(JsonObject pod, JsonObject container, bool isInit, CancellationToken cancellationToken)
    {
        if (!isInit)
        {
            await Task.Delay(runFor, cancellationToken);
        }

        return new ContainerOutcome(0);
    }
}
