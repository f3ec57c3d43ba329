using Ferry.Crds.Generation;
using Ferry.Crds.Tests.Support;

namespace Ferry.Crds.Tests;

/// <summary>The committed CRD YAML is what the C# types generate (<c>make crd</c> rewrites it).</summary>
public sealed class CrdDriftTests
{
    [Fact]
    public void CrdIsUpToDate()
    {
        var generated = CrdGenerator.Generate();
        var update = Environment.GetEnvironmentVariable("UPDATE_CRD") == "1";
        var stale = new List<string>();
        foreach (var relative in CrdFiles.CommittedPaths)
        {
            var path = RepoPaths.Of(relative);
            if (update)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, generated);
            }
            else if (!File.Exists(path) || File.ReadAllText(path) != generated)
            {
                stale.Add(relative);
            }
        }

        Assert.True(stale.Count == 0,
            $"config/crd is out of date with src/Crds: run `make crd` (stale: {string.Join(", ", stale)})");
    }

    [Fact]
    public void GenerationIsDeterministic() =>
        Assert.Equal(CrdGenerator.Generate(), CrdGenerator.Generate());
}
