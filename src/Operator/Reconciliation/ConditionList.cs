using k8s.Models;

namespace Ferry.Operator.Reconciliation;

/// <summary>
/// Sets metav1.Conditions the way Kubernetes expects: `lastTransitionTime` changes only when the status flips,
/// every condition carries `observedGeneration`, and the list is ordered by transition time, newest last.
/// </summary>
public static class ConditionList
{
    /// <summary>Sets condition <paramref name="type"/> in <paramref name="conditions"/>.</summary>
    public static void Set(List<V1Condition> conditions, string type, bool status, string reason, string message, long generation, DateTime now)
    {
        var value = status ? "True" : "False";
        var index = conditions.FindIndex(c => c.Type == type);
        if (index >= 0 && conditions[index].Status == value)
        {
            var existing = conditions[index];
            existing.Reason = reason;
            existing.Message = message;
            existing.ObservedGeneration = generation;
            return;
        }

        if (index >= 0)
        {
            conditions.RemoveAt(index);
        }

        conditions.Add(new V1Condition
        {
            Type = type,
            Status = value,
            Reason = reason,
            Message = message,
            ObservedGeneration = generation,
            LastTransitionTime = now,
        });
    }

    /// <summary>Removes condition <paramref name="type"/> (abnormal-true conditions are absent while False).</summary>
    public static void Remove(List<V1Condition> conditions, string type) => conditions.RemoveAll(c => c.Type == type);

    /// <summary>The condition of <paramref name="type"/>, or null.</summary>
    public static V1Condition? Find(IEnumerable<V1Condition>? conditions, string type) =>
        conditions?.FirstOrDefault(c => c.Type == type);

    /// <summary>True when condition <paramref name="type"/> is present with status True.</summary>
    public static bool IsTrue(IEnumerable<V1Condition>? conditions, string type) => Find(conditions, type)?.Status == "True";
}
