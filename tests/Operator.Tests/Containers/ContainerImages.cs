namespace Ferry.Operator.Tests.Containers;

/// <summary>
/// The images `make images` built, named by the variables `make test-containers` sets (scripts/test-containers.sh).
/// Without them the tests that run containers are skipped: `make test` runs on machines with no container engine.
/// </summary>
internal static class ContainerImages
{
    public const string OperatorVariable = "FERRY_OPERATOR_IMAGE";
    public const string TrainerVariable = "FERRY_TRAINER_IMAGE";

    public static string Operator => Environment.GetEnvironmentVariable(OperatorVariable) ?? throw new InvalidOperationException($"{OperatorVariable} is not set");

    public static string Trainer => Environment.GetEnvironmentVariable(TrainerVariable) ?? throw new InvalidOperationException($"{TrainerVariable} is not set");

    public static bool Available =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(OperatorVariable)) && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(TrainerVariable));
}

/// <summary>A fact that runs containers of the built images: skipped unless `make test-containers` named them.</summary>
public sealed class ContainerFactAttribute : FactAttribute
{
    public ContainerFactAttribute()
    {
        if (!ContainerImages.Available)
        {
            Skip = $"runs the built images: `make test-containers` (sets {ContainerImages.OperatorVariable} and {ContainerImages.TrainerVariable})";
        }
    }
}
