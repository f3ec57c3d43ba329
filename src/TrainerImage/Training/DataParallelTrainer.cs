using System.Buffers.Binary;
using System.Diagnostics;
using Ferry.Trainer.Contract;
using Ferry.Trainer.Data;
using Ferry.Trainer.Distributed;
using Ferry.Trainer.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Ferry.Trainer.Training;

/// <summary>The outcome of a training run.</summary>
public sealed record TrainingResult(int Epochs, long GlobalStep, double ValLoss, double ValAccuracy, string ParameterHash, int ResumedFromEpoch, double SamplesPerSecond, double TrainingSeconds = 0, double AllReduceSeconds = 0);

/// <summary>
/// Trains one rank of a data-parallel job: resume from the latest checkpoint (rank 0 reads it and broadcasts the
/// bytes, so every rank restores the same state) or broadcast rank 0's initial weights; then per epoch the rank's
/// shard in batches, a synchronous all-reduce per step, evaluation + metrics + checkpoint on rank 0.
/// </summary>
public sealed class DataParallelTrainer(HyperParameters hp, ICollectives collectives, Device device, string checkpointDir, TextWriter log)
{
    private const int EvaluationBatch = 1000;

    /// <summary>Called on every rank after each step with the global step number (tests use it to compare ranks).</summary>
    public Action<long, nn.Module>? AfterStep { get; init; }

    /// <summary>The trained network (valid after <see cref="Run"/>).</summary>
    public nn.Module<Tensor, Tensor>? Model { get; private set; }

    public ModelSpec Spec { get; } = ModelSpec.FromHyperParameters(hp);

    public TrainingResult Run(ImageDataset train, ImageDataset test, CancellationToken cancellationToken = default)
    {
        var rank = collectives.Rank;
        var world = collectives.WorldSize;
        var batchSize = hp.BatchSizePerRank(world);
        var stepsPerEpoch = EpochSharding.StepsPerEpoch(train.Count, world, batchSize);
        if (stepsPerEpoch == 0)
        {
            var (name, value) = hp.GlobalBatchSize > 0 ? ("global_batch_size", hp.GlobalBatchSize) : ("batch_size", hp.BatchSize);
            throw new TrainerConfigurationException(
                $"{name}={value} is too large: {train.Count} training samples over {world} rank(s) leave fewer than one batch of {batchSize} per rank; lower {name} or raise max_train_samples.");
        }

        var totalSteps = (long)stepsPerEpoch * hp.Epochs;
        var metrics = new MetricLog(log, rank == 0, hp.Epochs, totalSteps);
        var model = ModelFactory.Create(Spec, hp.Seed);
        Model = model;
        model.to(device);
        var parameters = model.parameters().ToList();
        var optimizer = CreateOptimizer(parameters);
        using var gradients = new FlatGradients(parameters, device);
        using var step = new DataParallelStep(model, optimizer, gradients, collectives);

        var startEpoch = 1;
        long globalStep = 0;
        var resumed = Resume(model, optimizer);
        if (resumed is not null)
        {
            startEpoch = resumed.Epoch + 1;
            globalStep = (long)resumed.Epoch * stepsPerEpoch;
            metrics.Info($"resumed from checkpoint epoch {resumed.Epoch} in {checkpointDir}");
        }
        else
        {
            DataParallelStep.BroadcastParameters(model, collectives);
        }

        metrics.Info($"training {Spec} with {hp.Optimizer.ToString().ToLowerInvariant()} on {world} rank(s), device {device.type.ToString().ToLowerInvariant()}, " +
            $"{train.Count} train / {test.Count} test samples, batch {batchSize} per rank ({batchSize * world} global), {stepsPerEpoch} steps per epoch");

        // On the CPU the preloaded tensors are used as they are; on a GPU they are copied there once.
        var onCpu = device.type == DeviceType.CPU;
        var trainImages = onCpu ? train.Images : train.Images.to(device);
        var trainLabels = onCpu ? train.Labels : train.Labels.to(device);
        double valLoss = double.NaN, valAccuracy = double.NaN;
        var clock = Stopwatch.StartNew();
        var stepTime = TimeSpan.Zero;
        long samples = 0;
        try
        {
            for (var epoch = startEpoch; epoch <= hp.Epochs; epoch++)
            {
                model.train();
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = hp.LearningRateAt(epoch);
                }

                var shard = EpochSharding.ShardIndices(train.Count, hp.Seed, epoch, rank, world, batchSize);
                using var order = torch.tensor(shard, device: device);
                double epochLoss = 0, intervalLoss = 0;
                var intervalSteps = 0;
                for (var s = 0; s < stepsPerEpoch; s++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    float loss;
                    var stepStart = Stopwatch.GetTimestamp();
                    using (var batch = order.narrow(0, (long)s * batchSize, batchSize))
                    using (var images = trainImages.index_select(0, batch))
                    using (var labels = trainLabels.index_select(0, batch))
                    {
                        loss = step.Run(images, labels);
                    }

                    stepTime += Stopwatch.GetElapsedTime(stepStart);

                    if (!float.IsFinite(loss))
                    {
                        throw new TrainingDivergedException($"training diverged: the loss became {loss} at epoch {epoch} step {globalStep + 1}; lower learning_rate (now {hp.LearningRate}).");
                    }

                    globalStep++;
                    samples += (long)batchSize * world;
                    epochLoss += loss;
                    intervalLoss += loss;
                    intervalSteps++;
                    AfterStep?.Invoke(globalStep, model);
                    if (globalStep % hp.LogInterval == 0)
                    {
                        metrics.Train(epoch, globalStep, intervalLoss / intervalSteps);
                        intervalLoss = 0;
                        intervalSteps = 0;
                    }
                }

                if (rank == 0)
                {
                    (valLoss, valAccuracy) = Evaluate(model, test, device);
                    metrics.EpochEnd(epoch, globalStep, epochLoss / stepsPerEpoch, valLoss, valAccuracy);
                    Checkpoints.Save(checkpointDir, new CheckpointHeader(epoch, globalStep, Spec, hp.Optimizer, hp.Seed, world, batchSize), model, optimizer);
                }
            }
        }
        finally
        {
            if (!onCpu)
            {
                trainImages.Dispose();
                trainLabels.Dispose();
            }
        }

        var seconds = clock.Elapsed.TotalSeconds;
        if (rank == 0 && double.IsNaN(valLoss))
        {
            // Every epoch was already done (resumed after the last one): report the restored model's quality.
            (valLoss, valAccuracy) = Evaluate(model, test, device);
        }

        return new TrainingResult(hp.Epochs, globalStep, valLoss, valAccuracy, ParameterHash.Of(model), resumed?.Epoch ?? 0, seconds > 0 ? samples / seconds : 0,
            stepTime.TotalSeconds, step.AllReduceTime.TotalSeconds);
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="model"/> on <paramref name="data"/>.</summary>
    public static (double Loss, double Accuracy) Evaluate(nn.Module<Tensor, Tensor> model, ImageDataset data, Device device)
    {
        var wasTraining = model.training;
        model.eval();
        using var noGrad = torch.no_grad();
        double lossSum = 0;
        long correct = 0;
        for (long start = 0; start < data.Count; start += EvaluationBatch)
        {
            using var scope = torch.NewDisposeScope();
            var count = Math.Min(EvaluationBatch, data.Count - start);
            var images = data.Images.narrow(0, start, count).to(device);
            var labels = data.Labels.narrow(0, start, count).to(device);
            var logits = model.forward(images);
            lossSum += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(labels).sum().item<long>();
        }

        model.train(wasTraining);
        return (lossSum / data.Count, (double)correct / data.Count);
    }

    private TorchSharp.Modules.OptimizerHelper CreateOptimizer(IEnumerable<TorchSharp.Modules.Parameter> parameters) => hp.Optimizer switch
    {
        OptimizerKind.Adam => torch.optim.Adam(parameters, lr: hp.LearningRate, weight_decay: hp.WeightDecay),
        _ => torch.optim.SGD(parameters, learningRate: hp.LearningRate, momentum: hp.Momentum, weight_decay: hp.WeightDecay),
    };

    private CheckpointHeader? Resume(nn.Module model, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        string? path = null;
        byte[] bytes = [];
        if (collectives.Rank == 0)
        {
            path = Checkpoints.FindLatest(checkpointDir);
            if (path is not null)
            {
                bytes = File.ReadAllBytes(path);
            }
        }

        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, bytes.LongLength);
        collectives.Broadcast(length);
        var size = BinaryPrimitives.ReadInt64LittleEndian(length);
        if (size == 0)
        {
            return null;
        }

        if (collectives.Rank != 0)
        {
            bytes = new byte[size];
        }

        collectives.Broadcast(bytes);
        using var noGrad = torch.no_grad();
        return Checkpoints.Restore(bytes, path ?? $"{checkpointDir} (from rank 0)", model, optimizer, Spec, hp.Optimizer);
    }
}

/// <summary>The loss stopped being a finite number.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
