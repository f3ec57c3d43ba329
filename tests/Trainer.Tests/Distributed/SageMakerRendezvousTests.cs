using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ferry.Trainer.Models;
using Ferry.Trainer.Tests.Fixtures;

namespace Ferry.Trainer.Tests.Distributed;

/// <summary>
/// Two `train` processes given only what SageMaker gives a two-instance job — SM_HOSTS and SM_CURRENT_HOST, no
/// MASTER_* — find each other by the host names `algo-1` and `algo-2` and train together over the TCP ring. Each
/// process runs in its own mount namespace whose /etc/hosts maps the names to loopback aliases (127.0.0.11,
/// 127.0.0.12), as the kubelet or SageMaker give each container its own hosts file; name resolution and the
/// rendezvous are the real ones.
/// </summary>
public sealed class SageMakerRendezvousTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    private static readonly string[] ContractVariables =
        ["MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "SM_HOSTS", "SM_CURRENT_HOST", "SM_CHANNEL_TRAIN", "SM_CHANNEL_TEST", "SM_MODEL_DIR"];

    [Fact]
    public void Two_sagemaker_style_instances_rendezvous_by_host_name_without_master_variables()
    {
        Assert.True(Environment.UserName == "root", "this test gives each process its own /etc/hosts with unshare and mount, which needs root (CI runs as root)");
        using var dir = new TempDirectory();
        var hosts = Path.Combine(dir.Path, "hosts");
        File.WriteAllText(hosts, "127.0.0.1 localhost\n127.0.0.11 algo-1\n127.0.0.12 algo-2\n");
        var roots = Prepare(dir.Path);
        var port = InProcessWorld.FreePort();

        using var second = Instance(roots[1], "algo-2", port, hosts, rendezvousTimeoutSeconds: 60);
        using var first = Instance(roots[0], "algo-1", port, hosts, rendezvousTimeoutSeconds: 60);

        Assert.True(first.Wait(Timeout) == 0, $"algo-1 failed:\n{first.Output}");
        Assert.True(second.Wait(Timeout) == 0, $"algo-2 failed:\n{second.Output}");
        Assert.Contains("gradients are averaged over tcp", first.Output, StringComparison.Ordinal);
        Assert.Contains("progress epoch=1/1", first.Output, StringComparison.Ordinal);
        var model = TrainedModel.Load(Path.Combine(roots[0], "model"));
        Assert.Equal(2, model.Description.WorldSize);
        Assert.False(Directory.Exists(Path.Combine(roots[1], "model")));
    }

    [Fact]
    public void Without_a_name_for_algo_1_the_second_instance_fails_naming_the_master_it_could_not_reach()
    {
        Assert.True(Environment.UserName == "root", "this test gives each process its own /etc/hosts with unshare and mount, which needs root (CI runs as root)");
        using var dir = new TempDirectory();
        var hosts = Path.Combine(dir.Path, "hosts");
        File.WriteAllText(hosts, "127.0.0.1 localhost\n127.0.0.12 algo-2\n");
        var roots = Prepare(dir.Path);
        var port = InProcessWorld.FreePort();

        using var second = Instance(roots[1], "algo-2", port, hosts, rendezvousTimeoutSeconds: 5);
        using var first = Instance(roots[0], "algo-1", port, hosts, rendezvousTimeoutSeconds: 5);

        Assert.NotEqual(0, second.Wait(Timeout));
        Assert.Contains($"algo-1:{port.ToString(CultureInfo.InvariantCulture)}", second.Output, StringComparison.Ordinal);
        Assert.NotEqual(0, first.Wait(Timeout));
    }

    private static string[] Prepare(string directory)
    {
        var roots = new[] { Path.Combine(directory, "algo-1"), Path.Combine(directory, "algo-2") };
        foreach (var root in roots)
        {
            SyntheticFashionMnist.Channel(root, trainCount: 128, testCount: 32);
            Directory.CreateDirectory(Path.Combine(root, "input", "config"));
            File.WriteAllText(Path.Combine(root, "input", "config", "hyperparameters.json"),
                """{"model": "mlp", "hidden_units": "16", "epochs": "1", "batch_size": "16", "log_interval": "4"}""");
        }

        return roots;
    }

    private static Instance Instance(string root, string host, int port, string hostsFile, int rendezvousTimeoutSeconds)
    {
        var info = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "--mount", "--propagation", "private", "--", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$1\"", hostsFile, Path.Combine(AppContext.BaseDirectory, "train") })
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var name in ContractVariables)
        {
            info.Environment.Remove(name);
        }

        info.Environment["FERRY_OPT_ML"] = root;
        info.Environment["SM_HOSTS"] = "[\"algo-1\",\"algo-2\"]";
        info.Environment["SM_CURRENT_HOST"] = host;
        info.Environment["FERRY_RENDEZVOUS_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        info.Environment["FERRY_RENDEZVOUS_TIMEOUT_SECONDS"] = rendezvousTimeoutSeconds.ToString(CultureInfo.InvariantCulture);
        info.Environment["FERRY_COLLECTIVE_TIMEOUT_SECONDS"] = "60";
        info.Environment["FERRY_COLLECTIVE_TRANSPORT"] = "tcp";
        return new Instance(System.Diagnostics.Process.Start(info)!);
    }
}

/// <summary>A started process whose standard output and error are collected.</summary>
internal sealed class Instance : IDisposable
{
    private readonly System.Diagnostics.Process _process;
    private readonly StringBuilder _output = new();

    public Instance(System.Diagnostics.Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public int Wait(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"train did not exit within {timeout}:\n{Output}");
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
