using Ferry.SageMakerEmulator.Diagnostics;
using Ferry.SageMakerEmulator.Faults;
using Ferry.SageMakerEmulator.Http;
using Ferry.SageMakerEmulator.Jobs;
using Ferry.SageMakerEmulator.Model;
using Ferry.SageMakerEmulator.Signing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.SageMakerEmulator;

/// <summary>
/// A SageMaker endpoint on Kestrel (127.0.0.1, a free port) speaking JSON 1.1 for CreateTrainingJob, DescribeTrainingJob,
/// StopTrainingJob, ListTrainingJobs and ListTags, and CloudWatch Logs' DescribeLogStreams and GetLogEvents for the jobs'
/// logs: every request is authenticated (SigV4) and validated against botocore's service models; jobs run on a clock through scripted lifecycles; faults come on demand. For tests in-process
/// (<c>await using var sm = await SageMakerApiEmulator.StartAsync()</c>) or standalone (<c>dotnet run --project tests/SageMakerEmulator</c>).
/// </summary>
public sealed class SageMakerApiEmulator : IAsyncDisposable
{
    /// <summary>The credentials every emulator accepts.</summary>
    public static readonly EmulatorCredentials TestCredentials = new("AKIDFERRYEMULATOR", "ferry-emulator-secret-access-key");

    private readonly WebApplication _app;
    private readonly SageMakerHandler _handler;

    private SageMakerApiEmulator(WebApplication app, SageMakerHandler handler, SageMakerApiEmulatorOptions options, ServiceModel model, ShapeValidator validator,
        SigV4Verifier signatures, SimulatedTrainingJobs jobs, JobScriptBook scripts, FaultInjector faults, RequestLog log)
    {
        _app = app;
        _handler = handler;
        Options = options;
        Model = model;
        Validator = validator;
        Signatures = signatures;
        Jobs = jobs;
        Scripts = scripts;
        Faults = faults;
        RequestLog = log;
    }

    /// <summary>The endpoint, e.g. http://127.0.0.1:41234/.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public SageMakerApiEmulatorOptions Options { get; }

    /// <summary>botocore's SageMaker model the requests are validated against.</summary>
    public ServiceModel Model { get; }

    public ShapeValidator Validator { get; }

    /// <summary>Signature checking of SageMaker calls; add credentials or turn off clock-skew checks here.</summary>
    public SigV4Verifier Signatures { get; }

    /// <summary>Signature checking of CloudWatch Logs calls (signing name <c>logs</c>).</summary>
    public SigV4Verifier LogsSignatures { get; private init; } = null!;

    /// <summary>The simulated jobs (also readable directly, without a request).</summary>
    public SimulatedTrainingJobs Jobs { get; }

    /// <summary>What jobs do, by name pattern.</summary>
    public JobScriptBook Scripts { get; }

    /// <summary>Throttling, 5xx, latency and lost create responses.</summary>
    public FaultInjector Faults { get; }

    /// <summary>Every request served, with counts per operation.</summary>
    public RequestLog RequestLog { get; }

    /// <summary>Answers of the emulator that did not fit the model's output shapes (expected empty).</summary>
    public IReadOnlyList<string> OutputViolations
    {
        get
        {
            lock (_handler.OutputViolations)
            {
                return [.. _handler.OutputViolations];
            }
        }
    }

    /// <summary>Starts an emulator; throws when botocore's SageMaker model cannot be found.</summary>
    public static async Task<SageMakerApiEmulator> StartAsync(SageMakerApiEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SageMakerApiEmulatorOptions();
        var model = options.ServiceModelPath is { } path ? ServiceModel.Load(path) : ServiceModel.LoadBotocore("sagemaker", "2017-07-24");
        var logsModel = options.LogsModelPath is { } logsPath ? ServiceModel.Load(logsPath) : ServiceModel.LoadBotocore("logs", "2014-03-28");
        var validator = new ShapeValidator(model);
        var logsValidator = new ShapeValidator(logsModel);
        // Every pattern the served operations can meet must compile, or validation would be partial.
        validator.CompileAllPatterns(SageMakerHandler.Operations.SelectMany(o => new[] { model.InputShape(o), model.OutputShape(o) }).OfType<string>());
        logsValidator.CompileAllPatterns(SageMakerHandler.LogsOperations.SelectMany(o => new[] { logsModel.InputShape(o), logsModel.OutputShape(o) }).OfType<string>());
        var signatures = new SigV4Verifier(options.Region, model.SigningName, options.TimeProvider);
        var logsSignatures = new SigV4Verifier(options.Region, logsModel.SigningName, options.TimeProvider);
        foreach (var credentials in options.Credentials.Prepend(TestCredentials))
        {
            signatures.Add(credentials);
            logsSignatures.Add(credentials);
        }

        var scripts = new JobScriptBook();
        var jobs = new SimulatedTrainingJobs(options.TimeProvider, options.Region, options.Account, scripts);
        var faults = new FaultInjector();
        var log = new RequestLog { Capacity = options.RequestLogCapacity };
        var handler = new SageMakerHandler(
            [
                new ServiceFront(validator, signatures, SageMakerHandler.Operations, (operation, input) => SageMakerHandler.RunSageMaker(jobs, operation, input)),
                new ServiceFront(logsValidator, logsSignatures, SageMakerHandler.LogsOperations, (operation, input) => SageMakerHandler.RunLogs(jobs, operation, input)),
            ],
            faults, log, options.TimeProvider);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(SageMakerApiEmulator).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{options.Port}");
        var app = builder.Build();
        app.Run(handler.HandleAsync);
        var emulator = new SageMakerApiEmulator(app, handler, options, model, validator, signatures, jobs, scripts, faults, log) { LogsSignatures = logsSignatures };
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        emulator.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return emulator;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
