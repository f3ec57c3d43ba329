using k8s.Models;

namespace Ferry.Operator.Tests.InCluster;

/// <summary>One refused check: the Pod Security check's name and what in the pod breaks it.</summary>
public sealed record PodSecurityViolation(string Check, string Detail)
{
    public override string ToString() => $"{Check}: {Detail}";
}

/// <summary>
/// The Pod Security Standards' <c>restricted</c> level (which includes <c>baseline</c>) as the Pod Security admission
/// evaluates a pod at the latest version: every check of k8s.io/pod-security-admission/policy, over init, regular and
/// ephemeral containers, with the same exemptions (Windows pods for the Linux-only restricted checks, user-namespace
/// pods — <c>hostUsers: false</c> — for runAsNonRoot and runAsUser). Where a restricted check replaces a baseline one
/// (capabilities, seccomp, procMount, volumes) only the restricted one runs, as in the admission.
/// </summary>
public static class PodSecurityRestricted
{
    private static readonly HashSet<string> SafeSysctls =
    [
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem", "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat",
    ];

    private static readonly HashSet<string> SeLinuxTypes = ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"];

    private const string AppArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/";

    /// <summary>Every violation of the restricted level; empty when the admission would accept the pod.</summary>
    public static IReadOnlyList<PodSecurityViolation> Violations(V1Pod pod)
    {
        var spec = pod.Spec;
        var annotations = pod.Metadata?.Annotations ?? new Dictionary<string, string>();
        var podContext = spec.SecurityContext;
        var containers = Containers(spec).ToList();
        var windows = spec.Os?.Name == "windows";
        var userNamespace = spec.HostUsers == false;
        var found = new List<PodSecurityViolation>();
        void Refuse(string check, string detail) => found.Add(new(check, detail));

        // baseline
        if (podContext?.WindowsOptions?.HostProcess == true)
        {
            Refuse("hostProcess", "pod sets securityContext.windowsOptions.hostProcess=true");
        }

        foreach (var c in containers.Where(c => c.SecurityContext?.WindowsOptions?.HostProcess == true))
        {
            Refuse("hostProcess", $"container {c.Name} sets securityContext.windowsOptions.hostProcess=true");
        }

        foreach (var (name, value) in new[] { ("hostNetwork", spec.HostNetwork), ("hostPID", spec.HostPID), ("hostIPC", spec.HostIPC) })
        {
            if (value == true)
            {
                Refuse("hostNamespaces", $"{name}=true");
            }
        }

        foreach (var c in containers.Where(c => c.SecurityContext?.Privileged == true))
        {
            Refuse("privileged", $"container {c.Name} sets securityContext.privileged=true");
        }

        foreach (var c in containers)
        {
            foreach (var port in (c.Ports ?? []).Where(p => p.HostPort is { } hostPort && hostPort != 0))
            {
                Refuse("hostPorts", $"container {c.Name} uses hostPort {port.HostPort}");
            }

            foreach (var host in ProbeAndLifecycleHosts(c))
            {
                Refuse("hostProbesAndHostLifecycle", $"container {c.Name} uses probe or lifecycle host {host}");
            }
        }

        if (podContext?.AppArmorProfile is { } podAppArmor && !AllowedProfile(podAppArmor.Type))
        {
            Refuse("appArmorProfile", $"pod sets AppArmor profile type {podAppArmor.Type}");
        }

        foreach (var c in containers.Where(c => c.SecurityContext?.AppArmorProfile is { } p && !AllowedProfile(p.Type)))
        {
            Refuse("appArmorProfile", $"container {c.Name} sets AppArmor profile type {c.SecurityContext!.AppArmorProfile.Type}");
        }

        foreach (var (key, value) in annotations.Where(a => a.Key.StartsWith(AppArmorAnnotationPrefix, StringComparison.Ordinal)))
        {
            if (value.Length != 0 && value != "runtime/default" && !value.StartsWith("localhost/", StringComparison.Ordinal))
            {
                Refuse("appArmorProfile", $"annotation {key}={value}");
            }
        }

        SeLinux("pod", podContext?.SeLinuxOptions, Refuse);
        foreach (var c in containers)
        {
            SeLinux($"container {c.Name}", c.SecurityContext?.SeLinuxOptions, Refuse);
        }

        // procMount: the restricted check replaces the baseline one and has no user-namespace exemption.
        foreach (var c in containers.Where(c => c.SecurityContext?.ProcMount is { } mount && mount != "Default"))
        {
            Refuse("procMount", $"container {c.Name} sets securityContext.procMount={c.SecurityContext!.ProcMount}");
        }

        foreach (var sysctl in (podContext?.Sysctls ?? []).Where(s => !SafeSysctls.Contains(s.Name)))
        {
            Refuse("sysctls", $"forbidden sysctl {sysctl.Name}");
        }

        // restricted
        foreach (var volume in spec.Volumes ?? [])
        {
            if (volume.ConfigMap is null && volume.Csi is null && volume.DownwardAPI is null && volume.EmptyDir is null
                && volume.Ephemeral is null && volume.Image is null && volume.PersistentVolumeClaim is null && volume.Projected is null
                && volume.Secret is null)
            {
                Refuse("restrictedVolumes", $"volume {volume.Name} has a forbidden type{(volume.HostPath is null ? "" : " (hostPath)")}");
            }
        }

        if (!windows)
        {
            foreach (var c in containers.Where(c => c.SecurityContext?.AllowPrivilegeEscalation != false))
            {
                Refuse("allowPrivilegeEscalation", $"container {c.Name} must set securityContext.allowPrivilegeEscalation=false");
            }

            foreach (var c in containers)
            {
                var capabilities = c.SecurityContext?.Capabilities;
                if (capabilities?.Drop?.Contains("ALL") != true)
                {
                    Refuse("capabilities", $"container {c.Name} must set securityContext.capabilities.drop=[\"ALL\"]");
                }

                foreach (var added in (capabilities?.Add ?? []).Where(a => a != "NET_BIND_SERVICE"))
                {
                    Refuse("capabilities", $"container {c.Name} must not add {added}");
                }
            }

            var podSeccomp = podContext?.SeccompProfile?.Type;
            if (podSeccomp is not null && !ValidSeccomp(podSeccomp))
            {
                Refuse("seccompProfile", $"pod sets seccompProfile.type={podSeccomp}");
            }

            foreach (var c in containers)
            {
                var type = c.SecurityContext?.SeccompProfile?.Type;
                if (type is not null ? !ValidSeccomp(type) : !(podSeccomp is not null && ValidSeccomp(podSeccomp)))
                {
                    Refuse("seccompProfile", $"pod or container {c.Name} must set securityContext.seccompProfile.type to RuntimeDefault or Localhost");
                }
            }
        }

        if (!userNamespace)
        {
            if (podContext?.RunAsNonRoot == false)
            {
                Refuse("runAsNonRoot", "pod sets securityContext.runAsNonRoot=false");
            }

            var podNonRoot = podContext?.RunAsNonRoot == true;
            foreach (var c in containers)
            {
                var own = c.SecurityContext?.RunAsNonRoot;
                if (own == false)
                {
                    Refuse("runAsNonRoot", $"container {c.Name} sets securityContext.runAsNonRoot=false");
                }
                else if (own is null && !podNonRoot)
                {
                    Refuse("runAsNonRoot", $"pod or container {c.Name} must set securityContext.runAsNonRoot=true");
                }
            }

            if (podContext?.RunAsUser == 0)
            {
                Refuse("runAsUser", "pod sets securityContext.runAsUser=0");
            }

            foreach (var c in containers.Where(c => c.SecurityContext?.RunAsUser == 0))
            {
                Refuse("runAsUser", $"container {c.Name} sets securityContext.runAsUser=0");
            }
        }

        return found;
    }

    private sealed record ContainerView(string Name, V1SecurityContext? SecurityContext, IList<V1ContainerPort>? Ports, V1Probe?[] Probes, V1Lifecycle? Lifecycle);

    // Init, regular and ephemeral containers, as the admission's visitContainers.
    private static IEnumerable<ContainerView> Containers(V1PodSpec spec) =>
    [
        .. (spec.InitContainers ?? []).Select(c => new ContainerView(c.Name, c.SecurityContext, c.Ports, [c.LivenessProbe, c.ReadinessProbe, c.StartupProbe], c.Lifecycle)),
        .. (spec.Containers ?? []).Select(c => new ContainerView(c.Name, c.SecurityContext, c.Ports, [c.LivenessProbe, c.ReadinessProbe, c.StartupProbe], c.Lifecycle)),
        .. (spec.EphemeralContainers ?? []).Select(c => new ContainerView(c.Name, c.SecurityContext, c.Ports, [c.LivenessProbe, c.ReadinessProbe, c.StartupProbe], c.Lifecycle)),
    ];

    private static IEnumerable<string> ProbeAndLifecycleHosts(ContainerView c)
    {
        foreach (var probe in c.Probes)
        {
            if (probe?.HttpGet?.Host is { Length: > 0 } httpHost)
            {
                yield return httpHost;
            }

            if (probe?.TcpSocket?.Host is { Length: > 0 } tcpHost)
            {
                yield return tcpHost;
            }
        }

        foreach (var handler in new[] { c.Lifecycle?.PostStart, c.Lifecycle?.PreStop })
        {
            if (handler?.HttpGet?.Host is { Length: > 0 } httpHost)
            {
                yield return httpHost;
            }

            if (handler?.TcpSocket?.Host is { Length: > 0 } tcpHost)
            {
                yield return tcpHost;
            }
        }
    }

    private static void SeLinux(string setter, V1SELinuxOptions? options, Action<string, string> refuse)
    {
        if (options is null)
        {
            return;
        }

        if (!SeLinuxTypes.Contains(options.Type ?? ""))
        {
            refuse("seLinuxOptions", $"{setter} sets seLinuxOptions.type={options.Type}");
        }

        if (!string.IsNullOrEmpty(options.User))
        {
            refuse("seLinuxOptions", $"{setter} sets seLinuxOptions.user");
        }

        if (!string.IsNullOrEmpty(options.Role))
        {
            refuse("seLinuxOptions", $"{setter} sets seLinuxOptions.role");
        }
    }

    private static bool AllowedProfile(string? type) => type is "RuntimeDefault" or "Localhost";

    private static bool ValidSeccomp(string type) => type is "RuntimeDefault" or "Localhost";
}
