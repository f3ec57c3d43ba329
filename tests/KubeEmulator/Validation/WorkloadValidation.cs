using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ferry.KubeEmulator.Serialization;

namespace Ferry.KubeEmulator.Validation;

/// <summary>
/// The essential checks of the apiserver's validation for apps/v1 Deployments, policy/v1 PodDisruptionBudgets and
/// networking.k8s.io/v1 NetworkPolicies (pkg/apis/apps/validation, pkg/apis/policy/validation,
/// pkg/apis/networking/validation), worded as the apiserver words them.
/// </summary>
public static partial class WorkloadValidation
{
    /// <summary>The field errors of <paramref name="obj"/> (<paramref name="old"/>: the stored object on update).</summary>
    public static List<(string Reason, string Field, string Message)> Check(string group, string plural, JsonObject obj, JsonObject? old)
    {
        var errors = new List<(string, string, string)>();
        var spec = obj["spec"] as JsonObject ?? [];
        switch (group, plural)
        {
            case ("apps", "deployments"):
                CheckDeployment(spec, old?["spec"] as JsonObject, errors);
                break;
            case ("policy", "poddisruptionbudgets"):
                CheckPodDisruptionBudget(spec, errors);
                break;
            case ("networking.k8s.io", "networkpolicies"):
                CheckNetworkPolicy(spec, errors);
                break;
        }

        return errors;
    }

    private static void CheckDeployment(JsonObject spec, JsonObject? oldSpec, List<(string, string, string)> errors)
    {
        if (spec["replicas"].AsLong() is < 0 and var replicas)
        {
            errors.Add(("FieldValueInvalid", "spec.replicas", $"Invalid value: {replicas}: must be greater than or equal to 0"));
        }

        var selector = spec["selector"] as JsonObject;
        if (selector is null)
        {
            errors.Add(("FieldValueRequired", "spec.selector", "Required value"));
        }
        else if ((selector["matchLabels"] as JsonObject ?? []).Count == 0 && (selector["matchExpressions"] as JsonArray ?? []).Count == 0)
        {
            errors.Add(("FieldValueInvalid", "spec.selector", $"Invalid value: {GoSelector(selector)}: empty selector is invalid for deployment"));
        }

        var labels = spec["template"]?["metadata"]?["labels"] as JsonObject ?? [];
        if (selector is not null && (selector["matchLabels"] as JsonObject ?? []).Count + (selector["matchExpressions"] as JsonArray ?? []).Count > 0
            && !Matches(selector, labels))
        {
            errors.Add(("FieldValueInvalid", "spec.template.metadata.labels", $"Invalid value: {GoMap(labels)}: `selector` does not match template `labels`"));
        }

        var podSpec = spec["template"]?["spec"] as JsonObject ?? [];
        if ((podSpec["containers"] as JsonArray ?? []).Count == 0)
        {
            errors.Add(("FieldValueRequired", "spec.template.spec.containers", "Required value"));
        }

        if ((string?)podSpec["restartPolicy"] is { } restart && restart != "Always")
        {
            errors.Add(("FieldValueNotSupported", "spec.template.spec.restartPolicy", $"Unsupported value: \"{restart}\": supported values: \"Always\""));
        }

        var strategy = (string?)spec["strategy"]?["type"];
        if (strategy is not null and not ("RollingUpdate" or "Recreate"))
        {
            errors.Add(("FieldValueNotSupported", "spec.strategy.type", $"Unsupported value: \"{strategy}\": supported values: \"Recreate\", \"RollingUpdate\""));
        }

        // apps/v1 makes the selector immutable (ValidateDeploymentUpdate).
        if (oldSpec?["selector"] is { } oldSelector && selector is not null && !JsonNode.DeepEquals(oldSelector, selector))
        {
            errors.Add(("FieldValueInvalid", "spec.selector", $"Invalid value: {GoSelector(selector)}: field is immutable"));
        }
    }

    private static void CheckPodDisruptionBudget(JsonObject spec, List<(string, string, string)> errors)
    {
        if (spec["minAvailable"] is not null && spec["maxUnavailable"] is not null)
        {
            errors.Add(("FieldValueInvalid", "spec", "Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and maxUnavailable cannot be both set"));
        }

        foreach (var field in new[] { "minAvailable", "maxUnavailable" })
        {
            switch (spec[field])
            {
                case JsonValue v when v.TryGetValue<long>(out var n) && n < 0:
                    errors.Add(("FieldValueInvalid", "spec." + field, $"Invalid value: {n}: must be greater than or equal to 0"));
                    break;
                case JsonValue v when v.TryGetValue<string>(out var s) && !Percent().IsMatch(s):
                    errors.Add(("FieldValueInvalid", "spec." + field, $"Invalid value: \"{s}\": must be an integer or percentage (e.g '5%')"));
                    break;
                case JsonValue v when v.TryGetValue<string>(out var s) && int.Parse(s.TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture) > 100:
                    errors.Add(("FieldValueInvalid", "spec." + field, $"Invalid value: \"{s}\": must not be greater than 100%"));
                    break;
            }
        }

        if ((string?)spec["unhealthyPodEvictionPolicy"] is { } policy && policy is not ("IfHealthyBudget" or "AlwaysAllow"))
        {
            errors.Add(("FieldValueNotSupported", "spec.unhealthyPodEvictionPolicy", $"Unsupported value: \"{policy}\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\""));
        }
    }

    private static void CheckNetworkPolicy(JsonObject spec, List<(string, string, string)> errors)
    {
        var types = spec["policyTypes"] as JsonArray ?? [];
        for (var i = 0; i < types.Count; i++)
        {
            if ((string?)types[i] is not ("Ingress" or "Egress"))
            {
                errors.Add(("FieldValueNotSupported", $"spec.policyTypes[{i}]", $"Unsupported value: {types[i]?.ToJsonString()}: supported values: \"Egress\", \"Ingress\""));
            }
        }

        if (types.Count > 2)
        {
            errors.Add(("FieldValueInvalid", "spec.policyTypes", $"Invalid value: {types.ToJsonString()}: may not specify more than two policyTypes"));
        }

        foreach (var direction in new[] { "ingress", "egress" })
        {
            var rules = spec[direction] as JsonArray ?? [];
            for (var i = 0; i < rules.Count; i++)
            {
                var ports = rules[i]?["ports"] as JsonArray ?? [];
                for (var j = 0; j < ports.Count; j++)
                {
                    if ((string?)ports[j]?["protocol"] is { } protocol && protocol is not ("TCP" or "UDP" or "SCTP"))
                    {
                        errors.Add(("FieldValueNotSupported", $"spec.{direction}[{i}].ports[{j}].protocol", $"Unsupported value: \"{protocol}\": supported values: \"SCTP\", \"TCP\", \"UDP\""));
                    }
                }
            }
        }
    }

    /// <summary>Whether a metav1.LabelSelector (matchLabels and matchExpressions) selects <paramref name="labels"/>.</summary>
    private static bool Matches(JsonObject selector, JsonObject labels)
    {
        foreach (var (key, value) in selector["matchLabels"] as JsonObject ?? [])
        {
            if ((string?)labels[key] != (string?)value)
            {
                return false;
            }
        }

        foreach (var e in (selector["matchExpressions"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var key = (string?)e["key"] ?? "";
            var values = (e["values"] as JsonArray ?? []).Select(v => (string?)v).ToList();
            var has = labels.TryGetPropertyValue(key, out var actual);
            var ok = (string?)e["operator"] switch
            {
                "In" => has && values.Contains((string?)actual),
                "NotIn" => !has || !values.Contains((string?)actual),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A label map as Go's %#v prints a map[string]string (keys sorted).</summary>
    private static string GoMap(JsonObject labels) =>
        "map[string]string{" + string.Join(", ", labels.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"\"{p.Key}\":\"{(string?)p.Value}\"")) + "}";

    private static string GoSelector(JsonObject selector) =>
        $"v1.LabelSelector{{MatchLabels:{GoMap(selector["matchLabels"] as JsonObject ?? [])}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}";

    [GeneratedRegex(@"^[0-9]+%$")]
    private static partial Regex Percent();
}
