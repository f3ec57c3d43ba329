using Ferry.Trainer.Contract;
using Ferry.Trainer.Data;
using Ferry.Trainer.Distributed;
using Ferry.Trainer.Distributed.Nccl;
using Ferry.Trainer.Models;
using Ferry.Trainer.Training;
using TorchSharp;

namespace Ferry.Trainer;

/// <summary>The <c>train</c> entry point: the SageMaker container contract around <see cref="DataParallelTrainer"/>.</summary>
public static class TrainCommand
{
    /// <summary>Runs training; returns 0 on success, 1 on any failure (after writing &lt;root&gt;/output/failure).</summary>
    public static int Run(IReadOnlyList<string> args, Func<string, string?> env, TextWriter stdout, TextWriter stderr)
    {
        if (args.Count == 1 && args[0] is "--help" or "-h")
        {
            stdout.WriteLine("usage: train [--<hyperparameter> <value>]...");
            stdout.WriteLine("Trains on Fashion-MNIST following the SageMaker container contract (root: $FERRY_OPT_ML or /opt/ml).");
            stdout.WriteLine($"hyperparameters (also read from <root>/input/config/hyperparameters.json): {string.Join(", ", HyperParameters.Names)}");
            stdout.WriteLine("see src/TrainerImage/README.md for defaults, environment variables and log formats.");
            return 0;
        }

        var root = ContainerPaths.ResolveRoot(env);
        var rankLabel = "";
        try
        {
            var hp = HyperParameters.Load(Path.Combine(root, "input", "config", "hyperparameters.json"), args, w => stderr.WriteLine($"train: warning: {w}"));
            var paths = ContainerPaths.Resolve(env, hp.CheckpointDir);
            var rendezvous = RendezvousSettings.FromEnvironment(env);
            rankLabel = rendezvous.WorldSize > 1 ? $" (rank {rendezvous.Rank} of {rendezvous.WorldSize})" : "";
            torch.set_num_threads(hp.Threads);

            // Load data first: a missing or corrupt file fails this rank at once instead of after the rendezvous.
            var (train, test) = FashionMnist.Load(paths.TrainChannel, paths.TestChannel, hp.MaxTrainSamples, hp.MaxTestSamples);
            using (train)
            using (test)
            {
                var useCuda = torch.cuda.is_available();
                var device = useCuda ? torch.CUDA : torch.CPU;
                if (useCuda)
                {
                    var localRank = int.TryParse(env("LOCAL_RANK"), out var lr) ? lr : rendezvous.Rank % Math.Max(1, torch.cuda.device_count());
                    device = new torch.Device(DeviceType.CUDA, localRank);
                }

                using var ring = Rendezvous.Connect(rendezvous);
                using var nccl = useCuda && ring.WorldSize > 1 ? new NcclCollectives(ring, device.index) : null;
                ICollectives collectives = (ICollectives?)nccl ?? ring;
                if (ring.Rank == 0 && ring.WorldSize > 1)
                {
                    var why = ring.SharedMemoryUnavailableReason is { } reason ? $" (no shared memory: {reason})" : "";
                    stdout.WriteLine($"gradients are averaged over {(nccl is not null ? "nccl" : ring.Transport)}{why}");
                }

                var trainer = new DataParallelTrainer(hp, collectives, device, paths.CheckpointDir, stdout);
                var result = trainer.Run(train, test);
                if (collectives.Rank == 0)
                {
                    stdout.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"finished epochs={result.Epochs} steps={result.GlobalStep} samples_per_second={result.SamplesPerSecond:F1} (all ranks, training steps only)"));
                    if (collectives.WorldSize > 1 && result.TrainingSeconds > 0)
                    {
                        stdout.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"all-reduce took {result.AllReduceSeconds:F2} s of {result.TrainingSeconds:F2} s of training steps on rank 0 ({100 * result.AllReduceSeconds / result.TrainingSeconds:F1} %, waiting for other ranks included)"));
                    }
                    TrainedModel.Save(paths.ModelDir, trainer.Model!, new ModelDescription(
                        ModelDescription.CurrentFormat, trainer.Spec, [1, 28, 28], FashionMnist.Mean, FashionMnist.StandardDeviation, FashionMnist.Classes,
                        hp.Raw, hp.Epochs, collectives.WorldSize, result.ValLoss, result.ValAccuracy));
                    stdout.WriteLine($"saved the model to {paths.ModelDir} ({TrainedModel.WeightsFile}, {TrainedModel.DescriptionFile})");
                }

                // Nobody exits (closing the ring) before rank 0 has saved the model.
                collectives.Barrier();
            }

            return 0;
        }
        catch (Exception e)
        {
            var message = Describe(e) + rankLabel;
            stderr.WriteLine($"train: error{rankLabel}: {message}");
            if (e is not TrainerConfigurationException)
            {
                stderr.WriteLine(e);
            }

            WriteFailure(root, message, stderr);
            return 1;
        }
    }

    private static string Describe(Exception e) => e switch
    {
        TrainerConfigurationException or CollectiveException or TrainingDivergedException => e.Message,
        TypeInitializationException { TypeName: "TorchSharp.torch" } =>
            $"TorchSharp's native library failed to load ({e.InnerException?.Message.Split('\n')[0]}); the trainer build must ship libLibTorchSharp.so for this platform (see src/TrainerImage/README.md).",
        OutOfMemoryException => "the trainer ran out of memory; lower batch_size or use a bigger instance.",
        _ => $"unexpected {e.GetType().Name}: {e.Message}",
    };

    /// <summary>SageMaker's convention: the reason goes to /opt/ml/output/failure (its first 1024 bytes become the job's failure reason).</summary>
    private static void WriteFailure(string root, string message, TextWriter stderr)
    {
        try
        {
            var path = Path.Combine(root, "output", "failure");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temp, message.ReplaceLineEndings(" ") + "\n");
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"train: could not write the failure file under {root}/output: {e.Message}");
        }
    }
}
