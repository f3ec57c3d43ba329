namespace Ferry.Trainer.Contract;

/// <summary>The SageMaker container layout (DESIGN.md §3), rooted at FERRY_OPT_ML (default /opt/ml).</summary>
public sealed record ContainerPaths(string Root, string TrainChannel, string? TestChannel, string ModelDir, string CheckpointDir, string FailureFile)
{
    /// <summary>Environment variable that relocates /opt/ml (the Local backend and tests use it).</summary>
    public const string RootVariable = "FERRY_OPT_ML";

    public string HyperParametersFile => Path.Combine(Root, "input", "config", "hyperparameters.json");

    /// <summary>The /opt/ml root for this process.</summary>
    public static string ResolveRoot(Func<string, string?> env)
    {
        var root = env(RootVariable);
        return string.IsNullOrWhiteSpace(root) ? "/opt/ml" : root;
    }

    /// <summary>Resolves every path; the checkpoint directory comes from the hyperparameter, then FERRY_CHECKPOINT_DIR, then &lt;root&gt;/checkpoints.</summary>
    public static ContainerPaths Resolve(Func<string, string?> env, string? checkpointDirHyperParameter)
    {
        var root = ResolveRoot(env);
        string? Var(string name) => string.IsNullOrWhiteSpace(env(name)) ? null : env(name);

        var train = Var("SM_CHANNEL_TRAIN") ?? Path.Combine(root, "input", "data", "train");
        var test = Var("SM_CHANNEL_TEST") ?? Path.Combine(root, "input", "data", "test");
        return new ContainerPaths(
            root,
            train,
            Directory.Exists(test) ? test : null,
            Var("SM_MODEL_DIR") ?? Path.Combine(root, "model"),
            checkpointDirHyperParameter ?? Var("FERRY_CHECKPOINT_DIR") ?? Path.Combine(root, "checkpoints"),
            Path.Combine(root, "output", "failure"));
    }
}
