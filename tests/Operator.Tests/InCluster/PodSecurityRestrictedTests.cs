using k8s.Models;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>The restricted-level checker refuses each documented violation and accepts a compliant pod.</summary>
public sealed class PodSecurityRestrictedTests
{
    // The restricted example of the Pod Security Standards: pod-level runAsNonRoot and seccomp, per-container
    // allowPrivilegeEscalation=false and capabilities drop ALL; an init, a regular and an ephemeral container.
    private static V1Pod Compliant() => new()
    {
        Metadata = new V1ObjectMeta { Name = "p", Annotations = new Dictionary<string, string>() },
        Spec = new V1PodSpec
        {
            SecurityContext = new V1PodSecurityContext
            {
                RunAsNonRoot = true,
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                Sysctls = [new V1Sysctl { Name = "net.ipv4.ip_local_port_range", Value = "1024 65535" }],
            },
            Volumes =
            [
                new V1Volume { Name = "scratch", EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory" } },
                new V1Volume { Name = "claim", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = "data" } },
                new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = "c" } },
                new V1Volume { Name = "token", Projected = new V1ProjectedVolumeSource { Sources = [] } },
            ],
            InitContainers = [Container("init")],
            Containers = [Container("main", port: new V1ContainerPort { ContainerPort = 8080 })],
            EphemeralContainers = [new V1EphemeralContainer { Name = "debug", Image = "busybox", SecurityContext = Safe() }],
        },
    };

    private static V1SecurityContext Safe() => new() { AllowPrivilegeEscalation = false, Capabilities = new V1Capabilities { Drop = ["ALL"] } };

    private static V1Container Container(string name, V1ContainerPort? port = null) => new()
    {
        Name = name,
        Image = "img",
        SecurityContext = Safe(),
        Ports = port is null ? null : [port],
    };

    private static V1Container Training(V1Pod pod) => pod.Spec.Containers[0];

    private static V1SecurityContext MainContext(V1Pod pod) => Training(pod).SecurityContext;

    public static TheoryData<string, Action<V1Pod>, string> Violations => new()
    {
        // baseline
        { "pod hostProcess", p => p.Spec.SecurityContext.WindowsOptions = new V1WindowsSecurityContextOptions { HostProcess = true }, "hostProcess" },
        { "container hostProcess", p => MainContext(p).WindowsOptions = new V1WindowsSecurityContextOptions { HostProcess = true }, "hostProcess" },
        { "hostNetwork", p => p.Spec.HostNetwork = true, "hostNamespaces" },
        { "hostPID", p => p.Spec.HostPID = true, "hostNamespaces" },
        { "hostIPC", p => p.Spec.HostIPC = true, "hostNamespaces" },
        { "privileged", p => MainContext(p).Privileged = true, "privileged" },
        { "privileged init container", p => p.Spec.InitContainers[0].SecurityContext.Privileged = true, "privileged" },
        { "hostPath volume", p => p.Spec.Volumes.Add(new V1Volume { Name = "host", HostPath = new V1HostPathVolumeSource { Path = "/" } }), "restrictedVolumes" },
        { "hostPort", p => Training(p).Ports[0].HostPort = 80, "hostPorts" },
        { "probe host", p => Training(p).LivenessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Host = "10.0.0.1", Port = 80 } }, "hostProbesAndHostLifecycle" },
        { "lifecycle host", p => Training(p).Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { TcpSocket = new V1TCPSocketAction { Host = "node", Port = 1 } } }, "hostProbesAndHostLifecycle" },
        { "AppArmor unconfined (pod)", p => p.Spec.SecurityContext.AppArmorProfile = new V1AppArmorProfile { Type = "Unconfined" }, "appArmorProfile" },
        { "AppArmor unconfined (container)", p => MainContext(p).AppArmorProfile = new V1AppArmorProfile { Type = "Unconfined" }, "appArmorProfile" },
        { "AppArmor annotation unconfined", p => p.Metadata.Annotations["container.apparmor.security.beta.kubernetes.io/main"] = "unconfined", "appArmorProfile" },
        { "SELinux type", p => MainContext(p).SeLinuxOptions = new V1SELinuxOptions { Type = "spc_t" }, "seLinuxOptions" },
        { "SELinux user", p => p.Spec.SecurityContext.SeLinuxOptions = new V1SELinuxOptions { User = "system_u" }, "seLinuxOptions" },
        { "SELinux role", p => MainContext(p).SeLinuxOptions = new V1SELinuxOptions { Role = "system_r" }, "seLinuxOptions" },
        { "procMount Unmasked", p => MainContext(p).ProcMount = "Unmasked", "procMount" },
        { "procMount Unmasked in a user namespace", p => { p.Spec.HostUsers = false; MainContext(p).ProcMount = "Unmasked"; }, "procMount" },
        { "seccomp Unconfined (pod)", p => p.Spec.SecurityContext.SeccompProfile.Type = "Unconfined", "seccompProfile" },
        { "unsafe sysctl", p => p.Spec.SecurityContext.Sysctls.Add(new V1Sysctl { Name = "kernel.msgmax", Value = "1" }), "sysctls" },
        { "baseline capability beyond the default set", p => MainContext(p).Capabilities.Add = ["SYS_ADMIN"], "capabilities" },

        // restricted
        { "nfs volume", p => p.Spec.Volumes.Add(new V1Volume { Name = "nfs", Nfs = new V1NFSVolumeSource { Server = "s", Path = "/" } }), "restrictedVolumes" },
        { "gitRepo volume", p => p.Spec.Volumes.Add(new V1Volume { Name = "git", GitRepo = new V1GitRepoVolumeSource { Repository = "r" } }), "restrictedVolumes" },
        { "volume of no known type", p => p.Spec.Volumes.Add(new V1Volume { Name = "empty" }), "restrictedVolumes" },
        { "allowPrivilegeEscalation unset", p => MainContext(p).AllowPrivilegeEscalation = null, "allowPrivilegeEscalation" },
        { "allowPrivilegeEscalation true", p => MainContext(p).AllowPrivilegeEscalation = true, "allowPrivilegeEscalation" },
        { "no securityContext on the init container", p => p.Spec.InitContainers[0].SecurityContext = null, "allowPrivilegeEscalation" },
        { "ephemeral container without the restrictions", p => p.Spec.EphemeralContainers[0].SecurityContext = null, "capabilities" },
        { "capabilities not dropped", p => MainContext(p).Capabilities = null, "capabilities" },
        { "capabilities drop without ALL", p => MainContext(p).Capabilities.Drop = ["NET_RAW"], "capabilities" },
        { "capability added besides NET_BIND_SERVICE", p => MainContext(p).Capabilities.Add = ["CHOWN"], "capabilities" },
        { "runAsNonRoot unset everywhere", p => p.Spec.SecurityContext.RunAsNonRoot = null, "runAsNonRoot" },
        { "runAsNonRoot false on the pod", p => p.Spec.SecurityContext.RunAsNonRoot = false, "runAsNonRoot" },
        { "runAsNonRoot false on a container", p => MainContext(p).RunAsNonRoot = false, "runAsNonRoot" },
        { "runAsUser 0 on the pod", p => p.Spec.SecurityContext.RunAsUser = 0, "runAsUser" },
        { "runAsUser 0 on a container", p => MainContext(p).RunAsUser = 0, "runAsUser" },
        { "seccomp unset everywhere", p => p.Spec.SecurityContext.SeccompProfile = null, "seccompProfile" },
        { "seccomp Unconfined on a container", p => MainContext(p).SeccompProfile = new V1SeccompProfile { Type = "Unconfined" }, "seccompProfile" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void Each_documented_violation_is_refused(string name, Action<V1Pod> breakIt, string check)
    {
        var pod = Compliant();
        breakIt(pod);
        var violations = PodSecurityRestricted.Violations(pod);
        Assert.True(violations.Any(v => v.Check == check), $"{name}: expected a {check} violation, got [{string.Join("; ", violations)}]");
    }

    [Fact]
    public void The_compliant_pod_passes() => Assert.Empty(PodSecurityRestricted.Violations(Compliant()));

    public static TheoryData<string, Action<V1Pod>> Allowed => new()
    {
        { "NET_BIND_SERVICE added", p => MainContext(p).Capabilities.Add = ["NET_BIND_SERVICE"] },
        { "runAsNonRoot on every container instead of the pod", p =>
            {
                p.Spec.SecurityContext.RunAsNonRoot = null;
                foreach (var c in p.Spec.InitContainers.Concat(p.Spec.Containers))
                {
                    c.SecurityContext.RunAsNonRoot = true;
                }

                p.Spec.EphemeralContainers[0].SecurityContext.RunAsNonRoot = true;
            }
        },
        { "seccomp Localhost on every container instead of the pod", p =>
            {
                p.Spec.SecurityContext.SeccompProfile = null;
                foreach (var c in p.Spec.InitContainers.Concat(p.Spec.Containers))
                {
                    c.SecurityContext.SeccompProfile = new V1SeccompProfile { Type = "Localhost", LocalhostProfile = "p.json" };
                }

                p.Spec.EphemeralContainers[0].SecurityContext.SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" };
            }
        },
        { "a non-root runAsUser", p => p.Spec.SecurityContext.RunAsUser = 1000 },
        { "runAsUser 0 in a user namespace", p => { p.Spec.HostUsers = false; p.Spec.SecurityContext.RunAsUser = 0; p.Spec.SecurityContext.RunAsNonRoot = null; } },
        { "AppArmor RuntimeDefault and a localhost annotation", p =>
            {
                p.Spec.SecurityContext.AppArmorProfile = new V1AppArmorProfile { Type = "RuntimeDefault" };
                p.Metadata.Annotations["container.apparmor.security.beta.kubernetes.io/main"] = "localhost/custom";
            }
        },
        { "SELinux container_t", p => MainContext(p).SeLinuxOptions = new V1SELinuxOptions { Type = "container_t", Level = "s0:c1,c2" } },
        { "procMount Default", p => MainContext(p).ProcMount = "Default" },
        { "Windows pod without the Linux-only restrictions", p =>
            {
                p.Spec.Os = new V1PodOS { Name = "windows" };
                MainContext(p).AllowPrivilegeEscalation = null;
                MainContext(p).Capabilities = null;
                p.Spec.SecurityContext.SeccompProfile = null;
            }
        },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void What_the_standard_allows_is_accepted(string name, Action<V1Pod> change)
    {
        var pod = Compliant();
        change(pod);
        var violations = PodSecurityRestricted.Violations(pod);
        Assert.True(violations.Count == 0, $"{name}: [{string.Join("; ", violations)}]");
    }
}
