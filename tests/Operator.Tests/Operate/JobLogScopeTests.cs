using Ferry.Operator.Backends;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Tests.Fixtures;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.Operate;

/// <summary>Every line the reconciler logs about a job carries the job's namespace, name and attempt as structured fields.</summary>
public sealed class JobLogScopeTests
{
    [Fact]
    public async Task Reconciler_lines_carry_namespace_name_and_attempt()
    {
        var lines = new List<(string Message, Dictionary<string, object?> Fields)>();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new CapturingProvider(lines)));
        var time = new FakeTimeProvider(T0);
        var store = new InMemoryTrainingJobStore(time);
        var backend = new FakeBackend { FailStartWith = new StartBlockedException("quota exceeded in team-a") };
        var reconciler = new TrainingJobReconciler(store, [backend], new InMemoryEventSink(), time, factory.CreateLogger<TrainingJobReconciler>());
        store.Create(Job().WithReplicas(1));

        await reconciler.ReconcileAsync("team-a", "mnist", CancellationToken.None);
        await reconciler.ReconcileAsync("team-a", "mnist", CancellationToken.None);

        Assert.Contains(lines, l => l.Message.Contains("cannot start yet", StringComparison.Ordinal));
        Assert.All(lines, l =>
        {
            Assert.Equal("team-a", l.Fields["namespace"]);
            Assert.Equal("mnist", l.Fields["name"]);
            Assert.Equal(1, l.Fields["attempt"]);
        });
    }

    private sealed class CapturingProvider(List<(string, Dictionary<string, object?>)> lines) : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public ILogger CreateLogger(string categoryName) => new CapturingLogger(lines, () => _scopes);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }
    }

    private sealed class CapturingLogger(List<(string, Dictionary<string, object?>)> lines, Func<IExternalScopeProvider> scopes) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => scopes().Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = new Dictionary<string, object?>();
            scopes().ForEachScope((scope, f) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (var (key, value) in pairs)
                    {
                        f[key] = value;
                    }
                }
            }, fields);
            lock (lines)
            {
                lines.Add((formatter(state, exception), fields));
            }
        }
    }
}
