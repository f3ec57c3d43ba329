using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ferry.Operator.Contract;

namespace Ferry.Operator.Tests.Contract;

/// <summary>
/// Ferry's rendering of hyperparameters into SM_HPS, SM_HP_* and SM_USER_ARGS against Python itself: the same
/// steps the SageMaker training toolkit takes (json.loads with its fallback, mapping.to_env_vars' format_value,
/// mapping.to_cmd_args), run by the machine's python3 on the same inputs.
/// </summary>
public sealed class ToolkitJsonTests
{
    // The toolkit's steps, from sagemaker_training.environment.read_hyperparameters and sagemaker_training.mapping.
    private const string Toolkit = """
        import json, sys
        def decode(v):
            try:
                return json.loads(v)
            except (ValueError, TypeError):
                return v
        def dumps(v):
            return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        def format_value(v):
            if isinstance(v, str):
                return str(v)
            if v is None:
                return ""
            return dumps(v)
        def arg_value(v):
            if hasattr(v, "items"):
                return ",".join("%s=%s" % (k, x) for k, x in sorted(v.items()))
            return "" if v is None else str(v)
        def to_cmd_args(m):
            out = []
            for k in sorted(m.keys()):
                out.append(("--%s" % k if len(k) > 1 else "-%s" % k) if k else "")
                out.append(arg_value(m[k]))
            return out
        data = json.load(sys.stdin)
        rows = []
        for v in data["values"]:
            d = decode(v)
            rows.append([format_value(d), dumps({"x": d}), dumps(to_cmd_args({"x": d}))])
        keys = {k: decode(v) for k, v in data["keys"].items()}
        rows.append(["", dumps(keys), dumps(to_cmd_args(keys))])
        print(json.dumps(rows))
        """;

    private static readonly string[] Values =
    [
        "3", "0.1", "1e-3", "1E5", "2.5e-7", "1e15", "1e16", "1e21", "1e22", "123.456", "0.30000000000000004", "5e-324",
        "1.7976931348623157e308", "1e400", "-1e400", "123456789012345678901234567890", "-0", "-0.0", "0.0001", "0.00001", "1.50",
        "true", "True", "false", "null", "NaN", "Infinity", "-Infinity", "\"quoted\"", "\"it's\"", "\"say \\\"hi\\\"\"",
        "[1, 2.5, \"a\", null, true, false]", "{\"b\": 1, \"a\": [1, {\"c\": \"d\"}]}", "{\"a\":1,\"a\":2}", "{\"k\": {\"n\": [true, null, 1e-9]}}",
        "resnet", "01", " 7 ", "\t[ 1 ,2 ]\n", "1.", ".5", "-", "[1,]", "{\"a\" 1}", "", "\"\"", "[]", "{}",
        "\"\\u00e9\\ud83d\\ude00\"", "héllo wörld 😀", "a+b<c>&'\"", "tab\there", "\"line\\nbreak\"", "\"bad \u0001 control\"",
        "[\"it's\", \"say \\\"hi\\\"\", \"\\u0001\", \"\\u00e9\", \"\\u2028\", \"\\\\\"]", "[\"it's and \\\"that\\\"\"]", "\"\\x\"",
        "s3://bucket/prefix", "--flag", "1,2,3", "a=b",
    ];

    private static readonly Dictionary<string, string> Keys = new()
    {
        ["b"] = "1", ["a"] = "2", ["learning-rate"] = "0.1", ["Z"] = "z", ["é"] = "e", ["😀"] = "smile", ["\uffff"] = "last-bmp", ["_x"] = "\"s\"",
    };

    [Fact]
    public async Task Hyperparameters_render_byte_for_byte_as_the_toolkit_renders_them()
    {
        var expected = await PythonAsync();
        Assert.Equal(Values.Length + 1, expected.Count);
        var mismatches = new List<string>();
        for (var i = 0; i < Values.Length; i++)
        {
            var decoded = ToolkitJson.DecodeHyperParameter(Values[i]);
            var actual = new[]
            {
                ToolkitJson.EnvironmentValue(decoded),
                ToolkitJson.Dumps(ToolkitDictionary.Of(("x", decoded))),
                ToolkitJson.Dumps(ToolkitValue.List(ToolkitJson.CommandArguments(ToolkitDictionary.Of(("x", decoded))))),
            };
            for (var k = 0; k < 3; k++)
            {
                if (actual[k] != expected[i][k])
                {
                    mismatches.Add($"{JsonSerializer.Serialize(Values[i])} [{k}]: python {expected[i][k]} ferry {actual[k]}");
                }
            }
        }

        var keys = new ToolkitDictionary([.. Keys.Select(p => KeyValuePair.Create(p.Key, ToolkitJson.DecodeHyperParameter(p.Value)))]);
        if (ToolkitJson.Dumps(keys) != expected[^1][1])
        {
            mismatches.Add($"keys: python {expected[^1][1]} ferry {ToolkitJson.Dumps(keys)}");
        }

        if (ToolkitJson.Dumps(ToolkitValue.List(ToolkitJson.CommandArguments(keys))) != expected[^1][2])
        {
            mismatches.Add($"key arguments: python {expected[^1][2]} ferry {ToolkitJson.Dumps(ToolkitValue.List(ToolkitJson.CommandArguments(keys)))}");
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public async Task The_training_env_is_in_pythons_canonical_form()
    {
        var job = new ContractJob("mnist", 2, 0, 2, new Dictionary<string, string> { ["lr"] = "1e-3", ["name"] = "héllo", ["layers"] = "[64, 32]" },
            [new("train", ContainerContract.FullyReplicated)], new Dictionary<string, string>());
        var env = ContainerContract.Environment(job, new ContractReplica(0, "/opt/ml", ContainerContract.HostNames(2))).ToDictionary(p => p.Key, p => p.Value);
        foreach (var name in new[] { "SM_TRAINING_ENV", "SM_HPS", "SM_RESOURCE_CONFIG", "SM_INPUT_DATA_CONFIG", "SM_USER_ARGS", "SM_INSTANCE_GROUPS_DICT" })
        {
            var canonical = await RunPythonAsync(
                "import json, sys\nprint(json.dumps(json.loads(sys.stdin.read()), sort_keys=True, separators=(',', ':'), ensure_ascii=True), end='')", env[name]);
            Assert.Equal(canonical, env[name]);
        }

        Assert.Equal("[\"--layers\",\"[64, 32]\",\"--lr\",\"0.001\",\"--name\",\"h\\u00e9llo\"]", env["SM_USER_ARGS"]);
    }

    [Theory]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(-1.5e-7, "-1.5e-07")]
    [InlineData(123.456, "123.456")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    public void Floats_are_written_as_python_writes_them(double value, string expected) => Assert.Equal(expected, ToolkitJson.FloatRepr(value));

    private static async Task<List<string[]>> PythonAsync()
    {
        var input = JsonSerializer.Serialize(new { values = Values, keys = Keys });
        var output = await RunPythonAsync(Toolkit, input);
        return JsonSerializer.Deserialize<List<string[]>>(output)!;
    }

    private static async Task<string> RunPythonAsync(string program, string input)
    {
        var start = new ProcessStartInfo("python3")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(program);
        start.Environment["PYTHONIOENCODING"] = "utf-8";
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, await stderr);
        return await stdout;
    }
}
