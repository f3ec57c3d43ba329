namespace Ferry.Operator.Runtime.Informers;

/// <summary>Receives an informer's cache changes; called on the watch loop, so it must be quick (e.g. enqueue a key).</summary>
public interface IResourceEventHandler<in T>
{
    /// <summary>An object appeared (first list or ADDED).</summary>
    void OnAdd(T obj);

    /// <summary>An object changed (MODIFIED, or a relist found a newer version).</summary>
    void OnUpdate(T oldObj, T newObj);

    /// <summary>An object disappeared (DELETED, or a relist no longer contains it).</summary>
    void OnDelete(T obj);
}

/// <summary>An <see cref="IResourceEventHandler{T}"/> built from delegates; a null delegate ignores that event.</summary>
public sealed class ResourceEventHandler<T>(Action<T>? onAdd = null, Action<T, T>? onUpdate = null, Action<T>? onDelete = null)
    : IResourceEventHandler<T>
{
    /// <summary>One delegate for every kind of change (the new object for updates).</summary>
    public static ResourceEventHandler<T> OnAnyChange(Action<T> changed) => new(changed, (_, n) => changed(n), changed);

    /// <inheritdoc />
    public void OnAdd(T obj) => onAdd?.Invoke(obj);

    /// <inheritdoc />
    public void OnUpdate(T oldObj, T newObj) => onUpdate?.Invoke(oldObj, newObj);

    /// <inheritdoc />
    public void OnDelete(T obj) => onDelete?.Invoke(obj);
}
