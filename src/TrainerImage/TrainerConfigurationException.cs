namespace Ferry.Trainer;

/// <summary>A setting the user controls (hyperparameter, environment variable, input file) is wrong; the message says which and how to fix it.</summary>
public sealed class TrainerConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
