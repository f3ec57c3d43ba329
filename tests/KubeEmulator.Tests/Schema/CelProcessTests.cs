using System.Diagnostics;
using Ferry.KubeEmulator.Schema;
using Ferry.KubeEmulator.Schema.Cel;
using static Ferry.KubeEmulator.Tests.Schema.SchemaFixtures;

namespace Ferry.KubeEmulator.Tests.Schema;

/// <summary>The Node CEL process: started lazily, reused, restarted after it dies, and a clear error when it cannot run.</summary>
public sealed class CelProcessTests
{
    private static readonly System.Text.Json.Nodes.JsonObject RuleSchema =
        SpecSchema("""{"replicas": {"type": "integer"}}""",
            "\"x-kubernetes-validations\": " + """[{"rule": "self.replicas > 0", "message": "replicas must be positive"}]""");

    [Fact]
    public async Task The_process_starts_on_the_first_rule_and_is_reused()
    {
        await using var validator = new CustomResourceValidator();
        await validator.ValidateAsync(SpecSchema("""{"replicas": {"type": "integer"}}"""), Object("""{"replicas": 1}"""), null, false);
        Assert.Null(validator.CelProcessId);

        await validator.ValidateAsync(RuleSchema, Object("""{"replicas": 1}"""), null, false);
        var first = validator.CelProcessId;
        Assert.NotNull(first);
        await validator.ValidateAsync(RuleSchema, Object("""{"replicas": 2}"""), null, false);
        Assert.Equal(first, validator.CelProcessId);
    }

    [Fact]
    public async Task A_killed_process_is_restarted_and_the_rules_still_run()
    {
        await using var validator = new CustomResourceValidator();
        Assert.Empty((await validator.ValidateAsync(RuleSchema, Object("""{"replicas": 1}"""), null, false)).Errors);
        var pid = validator.CelProcessId!.Value;

        using (var process = Process.GetProcessById(pid))
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        var result = await validator.ValidateAsync(RuleSchema, Object("""{"replicas": 0}"""), null, false);
        Assert.Equal(["spec: Invalid value: \"object\": replicas must be positive"], Messages(result));
        Assert.NotNull(validator.CelProcessId);
        Assert.NotEqual(pid, validator.CelProcessId);
    }

    [Fact]
    public async Task A_missing_cel_package_is_a_clear_error()
    {
        var empty = Directory.CreateTempSubdirectory("ferry-cel-");
        try
        {
            await using var validator = new CustomResourceValidator(empty.FullName);
            var error = await Assert.ThrowsAsync<CelUnavailableException>(
                () => validator.ValidateAsync(RuleSchema, Object("""{"replicas": 1}"""), null, false));
            Assert.Contains("npm ci", error.Message, StringComparison.Ordinal);
            Assert.Contains(empty.FullName, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_node_is_a_clear_error()
    {
        var empty = Directory.CreateTempSubdirectory("ferry-no-node-");
        try
        {
            await using var validator = new CustomResourceValidator(celDirectory: null, nodeSearchPath: empty.FullName);
            var error = await Assert.ThrowsAsync<CelUnavailableException>(
                () => validator.ValidateAsync(RuleSchema, Object("""{"replicas": 1}"""), null, false));
            Assert.Contains("need Node.js, but `node` is not on PATH", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_cel_folder_is_found_from_the_build_output()
    {
        var dir = CelProcess.LocateCelDirectory();
        Assert.True(File.Exists(Path.Combine(dir, "cel-server.mjs")), dir);
    }
}
