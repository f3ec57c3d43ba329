namespace Ferry.Crds.Schema;

// The validation markers of the TrainingJob API. Each one becomes an OpenAPI v3 keyword (or an
// x-kubernetes-* extension) in the generated CRD, so the contract lives on the C# type.

/// <summary>The property must be present (OpenAPI <c>required</c> on the enclosing object).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredAttribute : Attribute;

/// <summary>Inclusive lower bound of a number (OpenAPI <c>minimum</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MinimumAttribute(double value) : Attribute
{
    public double Value { get; } = value;
}

/// <summary>Inclusive upper bound of a number (OpenAPI <c>maximum</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MaximumAttribute(double value) : Attribute
{
    public double Value { get; } = value;
}

/// <summary>Bounds on a string's length (<c>minLength</c>/<c>maxLength</c>); on a list or map, on each item or value.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class LengthAttribute : Attribute
{
    /// <summary>Minimum length; -1 means no bound.</summary>
    public int Min { get; init; } = -1;

    /// <summary>Maximum length; -1 means no bound.</summary>
    public int Max { get; init; } = -1;
}

/// <summary>An ECMA-262 regular expression a string must match (<c>pattern</c>); on a list or map, each item or value.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PatternAttribute(string regex) : Attribute
{
    public string Regex { get; } = regex;
}

/// <summary>Bounds on a list's length (<c>minItems</c>/<c>maxItems</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ItemsAttribute : Attribute
{
    /// <summary>Minimum number of items; -1 means no bound.</summary>
    public int Min { get; init; } = -1;

    /// <summary>Maximum number of items; -1 means no bound.</summary>
    public int Max { get; init; } = -1;
}

/// <summary>Upper bound on the number of entries of a map (<c>maxProperties</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MaxPropertiesAttribute(int value) : Attribute
{
    public int Value { get; } = value;
}

/// <summary>The value the API server fills in when the field is absent (<c>default</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class DefaultAttribute(object value) : Attribute
{
    public object Value { get; } = value;
}

/// <summary>
/// The string also accepts an integer (<c>x-kubernetes-int-or-string</c>), as Kubernetes quantities do:
/// <c>cpu: 2</c> and <c>cpu: "2"</c> are both valid.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class IntOrStringAttribute : Attribute;

/// <summary>
/// A CEL validation rule evaluated by the API server (<c>x-kubernetes-validations</c>), on the object
/// (class) or on the field (property) it is declared on; <c>self</c> is that object or field value.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Property, AllowMultiple = true)]
public sealed class CelRuleAttribute(string rule) : Attribute
{
    public string Rule { get; } = rule;

    /// <summary>What the user reads when the rule fails: name the field and the fix.</summary>
    public string? Message { get; init; }

    /// <summary>A CEL expression producing the message; <see cref="Message"/> is the fallback.</summary>
    public string? MessageExpression { get; init; }

    /// <summary>The field the error is reported on, relative to <c>self</c> (e.g. <c>.sageMaker.roleArn</c>).</summary>
    public string? FieldPath { get; init; }

    /// <summary>One of FieldValueInvalid (default), FieldValueForbidden, FieldValueRequired, FieldValueDuplicate.</summary>
    public string? Reason { get; init; }
}

/// <summary>
/// The object cannot change once created, except the listed properties: the generator emits one
/// transition rule (on <c>oldSelf</c>) comparing every other property.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ImmutableExceptAttribute(params string[] mutableProperties) : Attribute
{
    /// <summary>JSON names of the properties that may change.</summary>
    public IReadOnlyList<string> MutableProperties { get; } = mutableProperties;

    public required string Message { get; init; }
}

/// <summary>A list whose items are merged by key (<c>x-kubernetes-list-type: map</c>), like metav1.Condition lists.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ListMapAttribute(params string[] keys) : Attribute
{
    public IReadOnlyList<string> Keys { get; } = keys;
}

/// <summary>A column of <c>kubectl get</c> (<c>additionalPrinterColumns</c>), in declaration order.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class PrinterColumnAttribute(string name, string type, string jsonPath) : Attribute
{
    public string Name { get; } = name;

    /// <summary>OpenAPI type of the column: string, integer, number, boolean or date.</summary>
    public string Type { get; } = type;

    public string JsonPath { get; } = jsonPath;

    public string? Description { get; init; }

    /// <summary>0 shows the column always; 1 only with <c>-o wide</c>.</summary>
    public int Priority { get; init; }
}

/// <summary>
/// The API server fills in <c>{}</c> when the object is absent (<c>default: {}</c>), so the defaults of
/// its own fields apply too (e.g. <c>resources.replicas: 1</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class DefaultEmptyObjectAttribute : Attribute;
