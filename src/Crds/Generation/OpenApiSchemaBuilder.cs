using System.Collections;
using System.ComponentModel;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ferry.Crds.Schema;
using k8s.Models;

namespace Ferry.Crds.Generation;

/// <summary>
/// Builds a structural OpenAPI v3 schema (apiextensions.k8s.io/v1 flavour) from a C# type and the
/// markers in <see cref="Ferry.Crds.Schema"/>. Keys are emitted in ordinal order, so the output is
/// deterministic and reads like controller-gen's.
/// </summary>
public static class OpenApiSchemaBuilder
{
    /// <summary>The schema of <paramref name="type"/>, described by its <see cref="DescriptionAttribute"/>.</summary>
    public static JsonObject ForType(Type type) => Sorted(TypeSchema(type, property: null));

    private static SortedDictionary<string, JsonNode?> TypeSchema(Type type, PropertyInfo? property)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var schema = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);

        if (type == typeof(string))
        {
            if (property?.GetCustomAttribute<IntOrStringAttribute>() is not null)
            {
                schema["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer" }, new JsonObject { ["type"] = "string" });
                schema["x-kubernetes-int-or-string"] = true;
            }
            else
            {
                schema["type"] = "string";
            }
        }
        else if (type == typeof(bool))
        {
            schema["type"] = "boolean";
        }
        else if (type == typeof(int))
        {
            schema["type"] = "integer";
            schema["format"] = "int32";
        }
        else if (type == typeof(long))
        {
            schema["type"] = "integer";
            schema["format"] = "int64";
        }
        else if (type == typeof(double))
        {
            schema["type"] = "number";
            schema["format"] = "double";
        }
        else if (type == typeof(DateTime) || type == typeof(DateTimeOffset))
        {
            schema["type"] = "string";
            schema["format"] = "date-time";
        }
        else if (type.IsEnum)
        {
            schema["type"] = "string";
            schema["enum"] = new JsonArray(Enum.GetNames(type).Select(n => (JsonNode?)n).ToArray());
        }
        else if (DictionaryValueType(type) is { } valueType)
        {
            schema["type"] = "object";
            schema["additionalProperties"] = Sorted(ElementSchema(valueType, property));
        }
        else if (ListItemType(type) is { } itemType)
        {
            schema["type"] = "array";
            schema["items"] = Sorted(ElementSchema(itemType, property));
        }
        else if (type == typeof(V1ObjectMeta))
        {
            schema["type"] = "object";
        }
        else if (type == typeof(V1Condition))
        {
            return ConditionSchema();
        }
        else if (type.IsClass)
        {
            ObjectSchema(type, schema);
        }
        else
        {
            throw new NotSupportedException($"{type} has no OpenAPI mapping; add one to {nameof(OpenApiSchemaBuilder)}.");
        }

        return schema;
    }

    // Markers on a list or map property constrain the container; Length and Pattern constrain its items.
    private static SortedDictionary<string, JsonNode?> ElementSchema(Type elementType, PropertyInfo? property)
    {
        var element = TypeSchema(elementType, property: null);
        if (property is not null && elementType == typeof(string))
            ApplyStringMarkers(property, element);
        return element;
    }

    private static void ObjectSchema(Type type, SortedDictionary<string, JsonNode?> schema)
    {
        schema["type"] = "object";
        if (type.GetCustomAttribute<DescriptionAttribute>() is { } typeDescription)
            schema["description"] = typeDescription.Description;

        var properties = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        var required = new List<string>();
        foreach (var property in JsonProperties(type))
        {
            var name = JsonName(property);
            properties[name] = Sorted(PropertySchema(property));
            if (property.GetCustomAttribute<RequiredAttribute>() is not null)
                required.Add(name);
        }

        if (properties.Count > 0)
            schema["properties"] = Sorted(properties);
        if (required.Count > 0)
            schema["required"] = new JsonArray(required.Order(StringComparer.Ordinal).Select(r => (JsonNode?)r).ToArray());

        var rules = new List<JsonNode?>();
        if (type.GetCustomAttribute<ImmutableExceptAttribute>() is { } immutable)
            rules.Add(ImmutabilityRule(type, immutable));
        rules.AddRange(type.GetCustomAttributes<CelRuleAttribute>().Select(RuleNode));
        if (rules.Count > 0)
            schema["x-kubernetes-validations"] = new JsonArray(rules.ToArray());
    }

    private static SortedDictionary<string, JsonNode?> PropertySchema(PropertyInfo property)
    {
        var schema = TypeSchema(property.PropertyType, property);
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        CheckMarkersFit(property, type);

        if (property.GetCustomAttribute<DescriptionAttribute>() is { } description)
            schema["description"] = description.Description;
        if (property.GetCustomAttribute<DefaultAttribute>() is { } defaultValue)
            schema["default"] = defaultValue.Value switch
            {
                bool b => JsonValue.Create(b),
                int i => JsonValue.Create(i),
                long l => JsonValue.Create(l),
                double d => Number(d),
                string text => JsonValue.Create(text),
                var other => throw new NotSupportedException($"{property.DeclaringType?.Name}.{property.Name}: default of type {other.GetType()} is not supported."),
            };
        if (property.GetCustomAttribute<DefaultEmptyObjectAttribute>() is not null)
            schema["default"] = new JsonObject();
        if (property.GetCustomAttribute<MinimumAttribute>() is { } minimum)
            schema["minimum"] = Number(minimum.Value);
        if (property.GetCustomAttribute<MaximumAttribute>() is { } maximum)
            schema["maximum"] = Number(maximum.Value);
        if (property.GetCustomAttribute<ItemsAttribute>() is { } items)
        {
            if (items.Min >= 0)
                schema["minItems"] = items.Min;
            if (items.Max >= 0)
                schema["maxItems"] = items.Max;
        }
        if (property.GetCustomAttribute<MaxPropertiesAttribute>() is { } maxProperties)
            schema["maxProperties"] = maxProperties.Value;
        if (property.GetCustomAttribute<ListMapAttribute>() is { } listMap)
        {
            schema["x-kubernetes-list-type"] = "map";
            schema["x-kubernetes-list-map-keys"] = new JsonArray(listMap.Keys.Select(k => (JsonNode?)k).ToArray());
        }
        if (type == typeof(string))
            ApplyStringMarkers(property, schema);

        var rules = property.GetCustomAttributes<CelRuleAttribute>().Select(RuleNode).ToArray();
        if (rules.Length > 0)
        {
            // Rules on a property join any rules its type declares.
            var all = schema.TryGetValue("x-kubernetes-validations", out var existing) && existing is JsonArray typeRules
                ? typeRules.Select(r => r?.DeepClone()).Concat(rules).ToArray()
                : rules;
            schema["x-kubernetes-validations"] = new JsonArray(all);
        }

        return schema;
    }

    // A marker the generator would silently drop is a contract the CRD does not enforce: refuse it.
    private static void CheckMarkersFit(PropertyInfo property, Type type)
    {
        var element = DictionaryValueType(type) ?? ListItemType(type);
        var isNumber = type == typeof(int) || type == typeof(long) || type == typeof(double);
        var misfits = new List<string>();
        if ((property.GetCustomAttribute<LengthAttribute>() is not null || property.GetCustomAttribute<PatternAttribute>() is not null)
            && type != typeof(string) && element != typeof(string))
            misfits.Add("Length/Pattern need a string (or a list or map of strings)");
        if ((property.GetCustomAttribute<MinimumAttribute>() is not null || property.GetCustomAttribute<MaximumAttribute>() is not null) && !isNumber)
            misfits.Add("Minimum/Maximum need a number");
        if (property.GetCustomAttribute<ItemsAttribute>() is not null && ListItemType(type) is null)
            misfits.Add("Items needs a list");
        if (property.GetCustomAttribute<MaxPropertiesAttribute>() is not null && DictionaryValueType(type) is null)
            misfits.Add("MaxProperties needs a map");
        if (property.GetCustomAttribute<IntOrStringAttribute>() is not null && type != typeof(string))
            misfits.Add("IntOrString needs a string");
        if (misfits.Count > 0)
            throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name}: {string.Join("; ", misfits)}.");
    }

    private static void ApplyStringMarkers(PropertyInfo property, SortedDictionary<string, JsonNode?> schema)
    {
        if (property.GetCustomAttribute<LengthAttribute>() is { } length)
        {
            if (length.Min >= 0)
                schema["minLength"] = length.Min;
            if (length.Max >= 0)
                schema["maxLength"] = length.Max;
        }
        if (property.GetCustomAttribute<PatternAttribute>() is { } pattern)
            schema["pattern"] = pattern.Regex;
    }

    private static JsonNode RuleNode(CelRuleAttribute rule)
    {
        var node = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal) { ["rule"] = rule.Rule };
        if (rule.Message is not null)
            node["message"] = rule.Message;
        if (rule.MessageExpression is not null)
            node["messageExpression"] = rule.MessageExpression;
        if (rule.FieldPath is not null)
            node["fieldPath"] = rule.FieldPath;
        if (rule.Reason is not null)
            node["reason"] = rule.Reason;
        return Sorted(node);
    }

    /// <summary>
    /// One transition rule comparing every property except the mutable ones. Presence is compared too,
    /// so adding or removing an optional field counts as a change.
    /// </summary>
    private static JsonNode ImmutabilityRule(Type type, ImmutableExceptAttribute immutable)
    {
        var clauses = JsonProperties(type)
            .Select(JsonName)
            .Where(name => !immutable.MutableProperties.Contains(name))
            .Order(StringComparer.Ordinal)
            .Select(n => $"(has(self.{n}) ? has(oldSelf.{n}) && self.{n} == oldSelf.{n} : !has(oldSelf.{n}))");
        return RuleNode(new CelRuleAttribute(string.Join("\n&& ", clauses)) { Message = immutable.Message });
    }

    /// <summary>metav1.Condition, exactly as the Kubernetes API declares it.</summary>
    private static SortedDictionary<string, JsonNode?> ConditionSchema()
    {
        static JsonObject Field(string type, string description, params (string Key, JsonNode Value)[] extra) =>
            Sorted(new[] { KeyValuePair.Create("type", (JsonNode?)type), KeyValuePair.Create("description", (JsonNode?)description) }
                .Concat(extra.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value))));

        var properties = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["lastTransitionTime"] = Field("string", "lastTransitionTime is the last time the condition transitioned from one status to another.",
                ("format", "date-time")),
            ["message"] = Field("string", "message is a human readable message indicating details about the transition.",
                ("maxLength", 32768)),
            ["observedGeneration"] = Field("integer", "observedGeneration is the .metadata.generation that the condition was set based upon.",
                ("format", "int64"), ("minimum", 0)),
            ["reason"] = Field("string", "reason is a programmatic identifier (CamelCase) for the condition's last transition.",
                ("maxLength", 1024), ("minLength", 1), ("pattern", "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")),
            ["status"] = Field("string", "status of the condition, one of True, False, Unknown.",
                ("enum", new JsonArray("True", "False", "Unknown"))),
            ["type"] = Field("string", "type of condition in CamelCase or in foo.example.com/CamelCase.",
                ("maxLength", 316),
                ("pattern", @"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")),
        };
        return new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["description"] = "Condition contains details for one aspect of the current state of this API Resource.",
            ["properties"] = Sorted(properties),
            ["required"] = new JsonArray("lastTransitionTime", "message", "reason", "status", "type"),
            ["type"] = "object",
        };
    }

    private static IEnumerable<PropertyInfo> JsonProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null && p.GetIndexParameters().Length == 0);

    private static string JsonName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name
        ?? throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name} needs [JsonPropertyName] to appear in the CRD.");

    private static Type? DictionaryValueType(Type type) =>
        GenericArgumentsOf(type, typeof(IDictionary<,>)) is [var key, var value] && key == typeof(string) ? value : null;

    private static Type? ListItemType(Type type) =>
        type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type) && GenericArgumentsOf(type, typeof(IEnumerable<>)) is [var item]
            ? item
            : null;

    private static Type[]? GenericArgumentsOf(Type type, Type openGeneric)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == openGeneric)
            return type.GetGenericArguments();
        return type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == openGeneric)?.GetGenericArguments();
    }

    private static JsonNode Number(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < long.MaxValue
            ? JsonValue.Create((long)value)
            : JsonValue.Create(value);

    private static JsonObject Sorted(IEnumerable<KeyValuePair<string, JsonNode?>> entries)
    {
        var node = new JsonObject();
        foreach (var (key, value) in entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            node[key] = value;
        return node;
    }
}
