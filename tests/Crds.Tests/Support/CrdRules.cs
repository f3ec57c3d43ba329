using System.Text.Json.Nodes;

namespace Ferry.Crds.Tests.Support;

/// <summary>
/// The CEL rules of a CRD schema and where they apply in an object, as the API server does it:
/// defaults first, then every rule whose field is present; transition rules (those using
/// <c>oldSelf</c>) only on update, where the old value exists.
/// </summary>
public static class CrdRules
{
    public sealed record Rule(string SchemaPath, string Expression, string Message, string? FieldPath, string? Reason)
    {
        public bool IsTransition => Expression.Contains("oldSelf", StringComparison.Ordinal);
    }

    public sealed record Application(Rule Rule, string ValuePath, JsonNode? Self, JsonNode? OldSelf);

    /// <summary>Every rule in the schema, with the dotted schema path of the node carrying it ("" = root).</summary>
    public static IReadOnlyList<Rule> All(JsonObject schema)
    {
        var rules = new List<Rule>();
        Collect(schema, "", rules);
        return rules;
    }

    private static void Collect(JsonObject schema, string path, List<Rule> rules)
    {
        if (schema["x-kubernetes-validations"] is JsonArray validations)
        {
            rules.AddRange(validations.Select(v => new Rule(path, (string)v!["rule"]!, (string?)v["message"] ?? "",
                (string?)v["fieldPath"], (string?)v["reason"])));
        }
        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, child) in properties)
                Collect((JsonObject)child!, Join(path, name), rules);
        }
        if (schema["items"] is JsonObject items)
            Collect(items, path + "[]", rules);
        if (schema["additionalProperties"] is JsonObject values)
            Collect(values, path + "{}", rules);
    }

    /// <summary>Fills in schema defaults, as the API server does before validating.</summary>
    public static JsonNode? WithDefaults(JsonObject schema, JsonNode? value)
    {
        var copy = value?.DeepClone();
        ApplyDefaults(schema, copy);
        return copy;
    }

    private static void ApplyDefaults(JsonObject schema, JsonNode? value)
    {
        switch (value)
        {
            case JsonObject obj when schema["properties"] is JsonObject properties:
                foreach (var (name, child) in properties)
                {
                    if (!obj.ContainsKey(name) && child!["default"] is { } defaultValue)
                        obj[name] = defaultValue.DeepClone();
                    if (obj[name] is { } present)
                        ApplyDefaults((JsonObject)child!, present);
                }
                break;
            case JsonObject obj when schema["additionalProperties"] is JsonObject values:
                foreach (var (_, child) in obj.ToList())
                    ApplyDefaults(values, child);
                break;
            case JsonArray array when schema["items"] is JsonObject items:
                foreach (var item in array)
                    ApplyDefaults(items, item);
                break;
        }
    }

    /// <summary>Where each rule applies to <paramref name="value"/> (an update when <paramref name="old"/> is given).</summary>
    public static IReadOnlyList<Application> Applications(JsonObject schema, JsonNode? value, JsonNode? old = null)
    {
        var applications = new List<Application>();
        Apply(schema, value, old, "", applications);
        return applications;
    }

    private static void Apply(JsonObject schema, JsonNode? value, JsonNode? old, string path, List<Application> applications)
    {
        if (value is null)
            return;
        if (schema["x-kubernetes-validations"] is JsonArray)
        {
            foreach (var rule in All(new JsonObject { ["x-kubernetes-validations"] = schema["x-kubernetes-validations"]!.DeepClone() }))
            {
                if (!rule.IsTransition || old is not null)
                    applications.Add(new Application(rule with { SchemaPath = path }, path, value, old));
            }
        }
        switch (value)
        {
            case JsonObject obj when schema["properties"] is JsonObject properties:
                foreach (var (name, child) in properties)
                    Apply((JsonObject)child!, obj[name], (old as JsonObject)?[name], Join(path, name), applications);
                break;
            case JsonObject obj when schema["additionalProperties"] is JsonObject values:
                foreach (var (key, child) in obj)
                    Apply(values, child, (old as JsonObject)?[key], $"{path}[{key}]", applications);
                break;
            case JsonArray array when schema["items"] is JsonObject items:
                // Items of atomic lists are not correlated with the old list: no oldSelf inside them.
                for (var i = 0; i < array.Count; i++)
                    Apply(items, array[i], null, $"{path}[{i}]", applications);
                break;
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
