using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Backends;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Runtime.Controllers;
using Ferry.Operator.Runtime.Resources;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Registers the TrainingJob controller with the `ferry operator` host: the reconciler over the Kubernetes API, the
/// InCluster backend configured from the <see cref="Section"/> configuration section (Helm values), Kubernetes Events,
/// and watches on the pods and Services the jobs own.
/// </summary>
public sealed class TrainingJobControllerSetup : IControllerSetup
{
    /// <summary>Configuration section of <see cref="InClusterOptions"/> (e.g. `FERRY_InCluster__AgentImage`).</summary>
    public const string Section = "InCluster";

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<InClusterOptions>() ?? new InClusterOptions();
        services.AddSingleton(options);
        services.AddSingleton<ITrainingJobStore>(sp => new KubernetesTrainingJobStore(sp.GetRequiredService<IResourceClient<TrainingJob>>()));
        services.AddSingleton<ITrainingJobEventSink>(sp => new KubernetesEventSink(
            sp.GetRequiredService<IResourceClient<Corev1Event>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<KubernetesEventSink>>()));
        services.AddSingleton<ITrainingBackend>(sp => new InClusterBackend(
            sp.GetRequiredService<IResourceClient<V1Pod>>(),
            sp.GetRequiredService<IResourceClient<V1Service>>(),
            sp.GetRequiredService<InClusterOptions>()));
        services.AddController<TrainingJob, TrainingJobReconciler>(controller =>
        {
            controller.Name = "trainingjob";
            controller.Owns<V1Pod>();
            controller.Owns<V1Service>();
        });
    }
}
