using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Crds.V1Alpha1;

namespace Ferry.Crds.Tests;

/// <summary>The default metric definitions read the trainer's log lines.</summary>
public sealed class MetricDefinitionTests
{
    private static Dictionary<string, string> Read(string line) =>
        MetricDefinition.Defaults
            .Select(d => (d.Name, Match: Regex.Match(line, d.Regex)))
            .Where(x => x.Match.Success)
            .ToDictionary(x => x.Name, x => x.Match.Groups[1].Value);

    [Fact]
    public void ReadEveryValueOfATrainerLine()
    {
        var values = Read("epoch=2 step=900 train_loss=0.4123 val_loss=0.4410 val_accuracy=0.8512");

        Assert.Equal(
            new Dictionary<string, string> { ["epoch"] = "2", ["train_loss"] = "0.4123", ["val_loss"] = "0.4410", ["val_accuracy"] = "0.8512" },
            values);
        Assert.All(values.Values, v => double.Parse(v, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void EachDefinitionHasOneCaptureGroup() =>
        Assert.All(MetricDefinition.Defaults, d => Assert.Equal(2, new Regex(d.Regex).GetGroupNumbers().Length));

    [Theory]
    [InlineData("epoch=1 step=10 train_loss=nan", "nan")]
    [InlineData("epoch=1 step=10 train_loss=1.5e-03", "1.5e-03")]
    [InlineData("epoch=1 step=10 train_loss=-0.25", "-0.25")]
    public void ReadNaNAndExponents(string line, string expected) => Assert.Equal(expected, Read(line)["train_loss"]);

    [Fact]
    public void NamesDoNotMatchInsideLongerNames()
    {
        var values = Read("pre_epoch=7 avg_train_loss=0.1 xval_loss=0.2");
        Assert.Empty(values);
    }

    [Fact]
    public void DefaultsAreFreshEachTime()
    {
        MetricDefinition.Defaults[0].Name = "changed";
        Assert.Equal("train_loss", MetricDefinition.Defaults[0].Name);
    }
}
