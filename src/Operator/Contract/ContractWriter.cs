namespace Ferry.Operator.Contract;

/// <summary>Creates the contract's directory layout and configuration files under a root (the I/O half of <see cref="ContainerContract"/>).</summary>
public static class ContractWriter
{
    /// <summary>Creates every contract directory and writes `hyperparameters.json`, `resourceconfig.json` and `inputdataconfig.json`.</summary>
    public static async Task WriteAsync(ContractJob job, ContractReplica replica, CancellationToken cancellationToken)
    {
        foreach (var directory in ContainerContract.Directories(job))
        {
            Directory.CreateDirectory(ContainerContract.PathOf(replica.Root, directory));
        }

        foreach (var file in ContainerContract.Files(job, replica))
        {
            await File.WriteAllTextAsync(ContainerContract.PathOf(replica.Root, file.RelativePath), file.Content, cancellationToken);
        }
    }
}
