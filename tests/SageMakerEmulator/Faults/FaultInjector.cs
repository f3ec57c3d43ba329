namespace Ferry.SageMakerEmulator.Faults;

/// <summary>What happens to a create whose response is lost after the job was created.</summary>
public enum LostResponse
{
    /// <summary>The connection is aborted: the client sees a network error.</summary>
    Abort,

    /// <summary>The client gets HTTP 500 InternalFailure.</summary>
    InternalError,
}

/// <summary>A fault decided for one request, before the service sees it.</summary>
public sealed record InjectedFault(string Code, string Message, int Status);

/// <summary>
/// Faults on demand: throttling and 5xx answers (the next N, or a seeded random share), latency, and creates that succeed
/// while their response is lost. <see cref="Operation"/>-scoped rules apply to one operation, null to all.
/// </summary>
public sealed class FaultInjector
{
    private readonly object _lock = new();
    private readonly List<Rule> _rules = [];
    private Random _random = new(1);
    private int _lostCreates;
    private LostResponse _lostMode;

    private sealed class Rule(string? operation, InjectedFault fault, int? remaining, double rate)
    {
        public string? Operation { get; } = operation;
        public InjectedFault Fault { get; } = fault;
        public int? Remaining { get; set; } = remaining;
        public double Rate { get; } = rate;
    }

    /// <summary>Delay before every answer (real time; zero by default).</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Seeds the random share of <see cref="ThrottleRate"/> and <see cref="FailRate"/>.</summary>
    public void Seed(int seed)
    {
        lock (_lock)
        {
            _random = new Random(seed);
        }
    }

    /// <summary>The next <paramref name="count"/> requests (of <paramref name="operation"/>) get ThrottlingException.</summary>
    public void ThrottleNext(int count, string? operation = null) => Add(new Rule(operation, Throttling, count, 1));

    /// <summary>A share of requests get ThrottlingException.</summary>
    public void ThrottleRate(double share, string? operation = null) => Add(new Rule(operation, Throttling, null, share));

    /// <summary>The next <paramref name="count"/> requests get a 5xx answer.</summary>
    public void FailNext(int count, int status = 500, string? operation = null) => Add(new Rule(operation, ServerError(status), count, 1));

    /// <summary>A share of requests get a 5xx answer.</summary>
    public void FailRate(double share, int status = 500, string? operation = null) => Add(new Rule(operation, ServerError(status), null, share));

    /// <summary>The next <paramref name="count"/> successful CreateTrainingJob calls create the job but lose the response.</summary>
    public void LoseNextCreateResponses(int count, LostResponse mode = LostResponse.Abort)
    {
        lock (_lock)
        {
            _lostCreates += count;
            _lostMode = mode;
        }
    }

    /// <summary>Removes every fault.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _rules.Clear();
            _lostCreates = 0;
            Latency = TimeSpan.Zero;
        }
    }

    /// <summary>The fault for a request to <paramref name="operation"/>, if any (consumes next-N budgets).</summary>
    public InjectedFault? Decide(string operation)
    {
        lock (_lock)
        {
            foreach (var rule in _rules)
            {
                if (rule.Operation is not null && rule.Operation != operation)
                {
                    continue;
                }

                if (rule.Remaining is { } left)
                {
                    if (left <= 0)
                    {
                        continue;
                    }

                    rule.Remaining = left - 1;
                    return rule.Fault;
                }

                if (_random.NextDouble() < rule.Rate)
                {
                    return rule.Fault;
                }
            }

            return null;
        }
    }

    /// <summary>Whether this successful create loses its response, and how.</summary>
    public LostResponse? TakeLostCreate()
    {
        lock (_lock)
        {
            if (_lostCreates <= 0)
            {
                return null;
            }

            _lostCreates--;
            return _lostMode;
        }
    }

    private static InjectedFault Throttling => new("ThrottlingException", "Rate exceeded", 400);

    private static InjectedFault ServerError(int status) => status switch
    {
        503 => new InjectedFault("ServiceUnavailable", "Service is unavailable, please try again later.", 503),
        _ => new InjectedFault("InternalFailure", "The request processing has failed because of an unknown error, exception or failure.", status),
    };

    private void Add(Rule rule)
    {
        lock (_lock)
        {
            _rules.Add(rule);
        }
    }
}
