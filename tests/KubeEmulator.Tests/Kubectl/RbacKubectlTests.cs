using System.Diagnostics;
using System.Text;
using Ferry.KubeEmulator.Authorization;

namespace Ferry.KubeEmulator.Tests.Kubectl;

/// <summary>An emulator in the RBAC mode with an administrator kubeconfig and one for the ServiceAccount ferry-system/ferry.</summary>
public sealed class RbacKubectlEnvironment : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ferry-kubectl-rbac-" + Guid.NewGuid().ToString("N"));

    public KubeApiEmulator Api { get; private set; } = null!;

    public string Admin { get; private set; } = "";

    public string ServiceAccount { get; private set; } = "";

    public string TempDir => _dir;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        Api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions { Authorization = AuthorizationMode.Rbac, InitialNamespaces = ["default", "ferry-system"] });
        Admin = Api.WriteKubeconfig(Path.Combine(_dir, "admin"));
        ServiceAccount = Api.WriteServiceAccountKubeconfig(Path.Combine(_dir, "ferry"), "ferry-system", "ferry");
    }

    public async Task DisposeAsync()
    {
        await Api.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Runs kubectl with <paramref name="kubeconfig"/> to completion (killed after 30 seconds).</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string kubeconfig, params string[] args)
    {
        var info = new ProcessStartInfo("/usr/bin/kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", Path.Combine(_dir, "cache-" + Path.GetFileName(kubeconfig)), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"kubectl {string.Join(' ', args)} did not finish in time; stdout: {await stdout}; stderr: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>The real kubectl against the RBAC mode: apply of RBAC manifests as the administrator, <c>auth can-i</c> and refusals as a ServiceAccount.</summary>
public sealed class RbacKubectlTests(RbacKubectlEnvironment env) : IClassFixture<RbacKubectlEnvironment>
{
    [Fact]
    public async Task A_service_account_is_refused_until_an_applied_role_binding_grants_it()
    {
        var (code, stdout, _) = await env.RunAsync(env.ServiceAccount, "auth", "can-i", "create", "pods", "-n", "ferry-system");
        Assert.Equal(1, code);
        Assert.Equal("no", stdout.Trim());

        (code, _, var stderr) = await env.RunAsync(env.ServiceAccount, "get", "pods");
        Assert.NotEqual(0, code);
        Assert.Contains("Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:ferry-system:ferry\" cannot list resource \"pods\" in API group \"\" in the namespace \"ferry-system\"", stderr, StringComparison.Ordinal);

        var manifest = Path.Combine(env.TempDir, "rbac.yaml");
        await File.WriteAllTextAsync(manifest, """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: ferry-pods
            rules:
            - apiGroups: [""]
              resources: [pods]
              verbs: [get, list, watch, create, delete]
            - apiGroups: [""]
              resources: [pods/status]
              verbs: [patch]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata:
              name: ferry-pods
              namespace: ferry-system
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: ClusterRole
              name: ferry-pods
            subjects:
            - kind: ServiceAccount
              name: ferry
              namespace: ferry-system
            """);
        (code, stdout, stderr) = await env.RunAsync(env.Admin, "apply", "-f", manifest);
        Assert.True(code == 0, stderr);
        Assert.Contains("rolebinding.rbac.authorization.k8s.io/ferry-pods created", stdout, StringComparison.Ordinal);

        (code, stdout, _) = await env.RunAsync(env.ServiceAccount, "auth", "can-i", "create", "pods", "-n", "ferry-system");
        Assert.Equal((0, "yes"), (code, stdout.Trim()));
        (code, stdout, _) = await env.RunAsync(env.ServiceAccount, "auth", "can-i", "patch", "pods", "--subresource", "status", "-n", "ferry-system");
        Assert.Equal((0, "yes"), (code, stdout.Trim()));
        (code, stdout, _) = await env.RunAsync(env.ServiceAccount, "auth", "can-i", "create", "pods", "-n", "default");
        Assert.Equal((1, "no"), (code, stdout.Trim()));
        (code, _, stderr) = await env.RunAsync(env.ServiceAccount, "get", "pods");
        Assert.True(code == 0, stderr);
    }
}
