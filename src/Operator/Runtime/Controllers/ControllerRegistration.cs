using Ferry.Operator.Runtime.Informers;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Operator.Runtime.Controllers;

/// <summary>
/// Plugs controllers into the <c>ferry operator</c> host. The host finds every non-abstract implementation in the
/// operator assembly by reflection (it needs a public parameterless constructor) and calls <see cref="Register"/>
/// before the host is built; there the implementation calls
/// <see cref="ControllerServiceCollectionExtensions.AddController{T, TReconciler}"/> and registers what its
/// reconciler needs.
/// </summary>
public interface IControllerSetup
{
    /// <summary>Registers controllers and their dependencies.</summary>
    void Register(IServiceCollection services, IConfiguration configuration);
}

/// <summary>Settings of one controller: its name, concurrency and the other kinds whose changes enqueue its objects.</summary>
public sealed class ControllerRegistration<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly List<Action<Controller<T>, InformerFactory>> _watches = [];

    /// <summary>Name used in logs and metrics (defaults to the lower-case kind).</summary>
    public string? Name { get; set; }

    /// <summary>Workers for this controller; the host's <c>MaxConcurrentReconciles</c> when null.</summary>
    public int? MaxConcurrentReconciles { get; set; }

    /// <summary>
    /// Reconciles the owner when a <typeparamref name="TOwned"/> changes: the owner reference with
    /// <c>controller: true</c> of kind <typeparamref name="T"/>, else the object named by label
    /// <paramref name="ownerNameLabel"/> (default <c>ferry.dev/job-name</c>) in the same namespace.
    /// </summary>
    public ControllerRegistration<T> Owns<TOwned>(string? ownerNameLabel = "ferry.dev/job-name")
        where TOwned : class, IKubernetesObject<V1ObjectMeta>
    {
        _watches.Add((controller, informers) => controller.Owns(informers.Get<TOwned>(), ownerNameLabel));
        return this;
    }

    /// <summary>Enqueues the keys <paramref name="map"/> returns for every change of a <typeparamref name="TOther"/>.</summary>
    public ControllerRegistration<T> Watches<TOther>(Func<TOther, IEnumerable<ObjectKey>> map)
        where TOther : class, IKubernetesObject<V1ObjectMeta>
    {
        _watches.Add((controller, informers) => controller.Watches(informers.Get<TOther>(), map));
        return this;
    }

    internal void Apply(Controller<T> controller, InformerFactory informers)
    {
        foreach (var watch in _watches)
        {
            watch(controller, informers);
        }
    }
}

/// <summary>A registered controller, built by the host once its services exist.</summary>
public sealed class ControllerDefinition(Func<IServiceProvider, ControllerBuildContext, IController> build)
{
    /// <summary>Builds the controller.</summary>
    public IController Build(IServiceProvider services, ControllerBuildContext context) => build(services, context);
}

/// <summary>What the host hands to controller definitions: defaults and shared services.</summary>
/// <param name="MaxConcurrentReconciles">Default worker count.</param>
/// <param name="Time">Clock.</param>
public sealed record ControllerBuildContext(int MaxConcurrentReconciles, TimeProvider Time);

/// <summary>Registration of controllers in dependency injection.</summary>
public static class ControllerServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="TReconciler"/> (a singleton, also as <see cref="IReconciler{T}"/>) and a controller
    /// that reconciles <typeparamref name="T"/> objects with it.
    /// </summary>
    public static IServiceCollection AddController<T, TReconciler>(
        this IServiceCollection services, Action<ControllerRegistration<T>>? configure = null)
        where T : class, IKubernetesObject<V1ObjectMeta>
        where TReconciler : class, IReconciler<T>
    {
        var registration = new ControllerRegistration<T>();
        configure?.Invoke(registration);
        services.AddSingleton<TReconciler>();
        services.AddSingleton<IReconciler<T>>(sp => sp.GetRequiredService<TReconciler>());
        services.AddSingleton(new ControllerDefinition((sp, context) =>
        {
            var informers = sp.GetRequiredService<InformerFactory>();
            var informer = informers.Get<T>();
            var name = registration.Name ?? informer.Kind.Kind.ToLowerInvariant();
            var controller = new Controller<T>(
                name,
                informer,
                sp.GetRequiredService<IReconciler<T>>(),
                registration.MaxConcurrentReconciles ?? context.MaxConcurrentReconciles,
                time: context.Time,
                logger: sp.GetRequiredService<ILoggerFactory>().CreateLogger($"Ferry.Operator.Controller.{name}"));
            registration.Apply(controller, informers);
            return controller;
        }));
        return services;
    }
}
