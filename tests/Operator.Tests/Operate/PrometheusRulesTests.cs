using System.Diagnostics;
using Ferry.Operator.Tests.Fixtures;

namespace Ferry.Operator.Tests.Operate;

/// <summary>The chart's alert rules, checked and unit-tested by Prometheus's own promtool.</summary>
public sealed class PrometheusRulesTests
{
    private static readonly string Deploy = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(OperatorHarness.CrdPath)!, "..", "..", "deploy"));

    [Fact]
    public async Task Promtool_accepts_the_rules_and_their_unit_tests_pass()
    {
        var (checkCode, check) = await PromtoolAsync("check", "rules", Path.Combine(Deploy, "helm", "ferry", "files", "prometheus-rules.yaml"));
        Assert.True(checkCode == 0, check);
        Assert.Contains("SUCCESS: 7 rules found", check, StringComparison.Ordinal);

        var (testCode, test) = await PromtoolAsync("test", "rules", Path.Combine(Deploy, "prometheus", "ferry-rules.test.yaml"));
        Assert.True(testCode == 0, test);
        Assert.Contains("SUCCESS", test, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output)> PromtoolAsync(params string[] arguments)
    {
        using var promtool = Process.Start(new ProcessStartInfo("promtool", arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = promtool.StandardOutput.ReadToEndAsync();
        var error = promtool.StandardError.ReadToEndAsync();
        await promtool.WaitForExitAsync();
        return (promtool.ExitCode, await output + await error);
    }
}
