using Ferry.Operator.SageMaker;

namespace Ferry.SageMaker.Tests.Client;

public sealed class SageMakerClientFactoryTests
{
    [Fact]
    public void OneClientPerRegionTheDefaultWhenNoneIsNamed()
    {
        using var factory = new SageMakerClientFactory(new SageMakerClientOptions { Region = "eu-west-1" });

        var byDefault = (SageMakerClient)factory.For(null);
        var named = (SageMakerClient)factory.For("us-east-2");

        Assert.Same(byDefault, factory.For("eu-west-1"));
        Assert.Same(named, factory.For("us-east-2"));
        Assert.Equal(new Uri("https://api.sagemaker.eu-west-1.amazonaws.com/"), byDefault.Endpoint);
        Assert.Equal(new Uri("https://api.sagemaker.us-east-2.amazonaws.com/"), named.Endpoint);
    }
}
