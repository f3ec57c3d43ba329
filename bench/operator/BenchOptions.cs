using System.Globalization;

namespace Ferry.Bench.Operator;

/// <summary>Command-line options of the operator benchmark driver (run.py passes them).</summary>
internal sealed record BenchOptions(string OperatorDll, string CrdPath, int Jobs, double Rate, int Replicas, double PodRunSeconds,
    double IdleSeconds, double CapacitySeconds, double? TimeoutSeconds, string OutPath, string OperatorLog, IReadOnlyList<string> OperatorArgs)
{
    public static BenchOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var operatorArgs = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--")
            {
                operatorArgs.AddRange(args[(i + 1)..]);
                break;
            }

            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'; options are --name value, operator arguments follow --");
            }

            values[args[i][2..]] = args[++i];
        }

        string Required(string name) => values.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");
        double Number(string name, double fallback) => values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

        return new BenchOptions(
            Required("operator-dll"),
            Required("crd"),
            (int)Number("jobs", 1000),
            Number("rate", 200),
            (int)Number("replicas", 2),
            Number("pod-run-seconds", 5),
            Number("idle-seconds", 60),
            Number("capacity-seconds", 3),
            values.ContainsKey("timeout-seconds") ? Number("timeout-seconds", 0) : null,
            Required("out"),
            Required("operator-log"),
            operatorArgs);
    }
}
