using Ferry.KubeEmulator.Store;

namespace Ferry.KubeEmulator.Faults;

/// <summary>What a fault does to a matching request.</summary>
public enum FaultKind
{
    /// <summary>Answer with a Status error (<see cref="FaultRule.StatusCode"/>).</summary>
    Error,

    /// <summary>Never answer until the client gives up (or <see cref="FaultRule.Delay"/> passes, then serve normally).</summary>
    Hang,

    /// <summary>Serve normally after <see cref="FaultRule.Delay"/>.</summary>
    Latency,

    /// <summary>Abort the connection without a response.</summary>
    Disconnect,
}

/// <summary>A fault rule: which requests it matches and what happens to them. Null matchers match anything.</summary>
public sealed class FaultRule
{
    /// <summary>Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.</summary>
    public string? Verb { get; init; }
    /// <summary>Resource plural, e.g. "trainingjobs".</summary>
    public string? Resource { get; init; }
    public string? Namespace { get; init; }
    public string? Name { get; init; }
    /// <summary>Subresource ("status"); empty string matches only the main resource.</summary>
    public string? Subresource { get; init; }

    public FaultKind Kind { get; init; } = FaultKind.Error;

    /// <summary>HTTP status for <see cref="FaultKind.Error"/>: 409, 429, 500, 503, ...</summary>
    public int StatusCode { get; init; } = 500;

    /// <summary>Seconds sent in Retry-After (429 defaults to 1).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>Latency, or how long a hang lasts (null: until the client disconnects).</summary>
    public TimeSpan? Delay { get; init; }

    /// <summary>Apply to the next N matching requests only (null: unlimited).</summary>
    public int? Times { get; init; }

    /// <summary>Probability in [0,1] that a matching request is affected (deterministic pseudo-random sequence).</summary>
    public double Probability { get; init; } = 1.0;

    internal int Remaining;

    internal bool Matches(string verb, string? resource, string? ns, string? name, string? subresource) =>
        (Verb is null || Verb == verb) && (Resource is null || Resource == resource) && (Namespace is null || Namespace == ns)
        && (Name is null || Name == name) && (Subresource is null || Subresource == (subresource ?? ""));
}

/// <summary>Injects failures into the emulator: error responses, hangs, latency, dropped watches, history compaction.</summary>
public sealed class FaultInjector(ObjectStore store)
{
    private readonly Lock _lock = new();
    private readonly List<FaultRule> _rules = [];
    private readonly Random _random = new(12345);

    /// <summary>Latency added to every request (real time).</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Adds a rule; rules are checked in the order added and the first match applies.</summary>
    public FaultRule Add(FaultRule rule)
    {
        lock (_lock)
        {
            rule.Remaining = rule.Times ?? int.MaxValue;
            _rules.Add(rule);
        }

        return rule;
    }

    /// <summary>The next <paramref name="times"/> matching requests fail with <paramref name="statusCode"/>.</summary>
    public FaultRule FailNext(int times, int statusCode, string? verb = null, string? resource = null, int? retryAfterSeconds = null) =>
        Add(new FaultRule { Times = times, StatusCode = statusCode, Verb = verb, Resource = resource, RetryAfterSeconds = retryAfterSeconds });

    /// <summary>Matching requests fail with <paramref name="statusCode"/> at the given rate.</summary>
    public FaultRule FailRate(double probability, int statusCode, string? verb = null, string? resource = null) =>
        Add(new FaultRule { Probability = probability, StatusCode = statusCode, Verb = verb, Resource = resource });

    public void Remove(FaultRule rule)
    {
        lock (_lock)
        {
            _rules.Remove(rule);
        }
    }

    /// <summary>Removes all rules and latency.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _rules.Clear();
        }

        Latency = TimeSpan.Zero;
    }

    /// <summary>Closes open watch streams (optionally only those of one resource plural); returns how many.</summary>
    public int DropWatches(string? resource = null) => store.DropWatches(c => resource is null || c.Plural == resource);

    /// <summary>Forgets the event history: watches resuming from any older resourceVersion get 410 Gone.</summary>
    public void CompactHistory() => store.Compact();

    internal FaultRule? Match(string verb, string? resource, string? ns, string? name, string? subresource)
    {
        lock (_lock)
        {
            foreach (var rule in _rules)
            {
                if (rule.Remaining <= 0 || !rule.Matches(verb, resource, ns, name, subresource))
                {
                    continue;
                }

                if (rule.Probability < 1.0 && _random.NextDouble() >= rule.Probability)
                {
                    continue;
                }

                rule.Remaining--;
                return rule;
            }
        }

        return null;
    }
}
