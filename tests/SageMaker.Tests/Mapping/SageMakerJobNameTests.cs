using System.Text.RegularExpressions;
using Ferry.Operator.SageMaker;

namespace Ferry.SageMaker.Tests.Mapping;

public sealed class SageMakerJobNameTests
{
    private const string Uid = "3f1e6c2a-9b7d-4e21-8c55-0d2f4a6b8e10";

    [Theory]
    [InlineData("mnist", 1, "mnist-3f1e6c2a-1")]
    [InlineData("fashion-mnist-sagemaker", 12, "fashion-mnist-sagemaker-3f1e6c2a-12")]
    [InlineData("a", 30, "a-3f1e6c2a-30")]
    public void ShortNamesAreNameUidPrefixAttempt(string name, int attempt, string expected) =>
        Assert.Equal(expected, SageMakerJobName.For(name, Uid, attempt));

    [Theory]
    [InlineData(59, 1)]
    [InlineData(59, 30)]
    [InlineData(53, 1)]
    [InlineData(54, 1)]
    [InlineData(200, 7)]
    public void EveryNameFitsSageMakersRules(int length, int attempt)
    {
        var name = "j" + new string('x', length - 1);

        var jobName = SageMakerJobName.For(name, Uid, attempt);

        Assert.InRange(jobName.Length, 1, SageMakerJobName.MaxLength);
        Assert.Matches(new Regex(SageMakerJobName.Pattern), jobName);
        Assert.EndsWith($"-3f1e6c2a-{attempt}", jobName);
    }

    [Fact]
    public void LongNamesSharingTheirStartStillDiffer()
    {
        var stem = "training-run-for-the-quarterly-recommendation-model-v";

        var first = SageMakerJobName.For(stem + "1", Uid, 1);
        var second = SageMakerJobName.For(stem + "2", Uid, 1);

        Assert.NotEqual(first, second);
        Assert.True(first.Length <= 63 && second.Length <= 63);
    }

    [Fact]
    public void TheNameIsAPureFunctionOfNameUidAndAttempt()
    {
        Assert.Equal(SageMakerJobName.For("job", Uid, 2), SageMakerJobName.For("job", Uid, 2));
        Assert.NotEqual(SageMakerJobName.For("job", Uid, 1), SageMakerJobName.For("job", Uid, 2));
        Assert.NotEqual(SageMakerJobName.For("job", Uid, 1), SageMakerJobName.For("job", "9" + Uid[1..], 1));
    }

    [Fact]
    public void CharactersSageMakerRefusesBecomeHyphens() =>
        Assert.Equal("my-job-3f1e6c2a-1", SageMakerJobName.For("my.job", Uid, 1));

    [Fact]
    public void AnAttemptBelowOneIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SageMakerJobName.For("job", Uid, 0));
}
