using Ferry.Operator.Storage;

namespace Ferry.Operator.Tests.Storage;

public sealed class ObjectLocationTests
{
    [Theory]
    [InlineData("s3://bucket/a/b/", "s3", "bucket", "a/b")]
    [InlineData("s3://bucket", "s3", "bucket", "")]
    [InlineData("s3://bucket/", "s3", "bucket", "")]
    [InlineData("file:///data/x/", "file", "", "/data/x")]
    public void Parses(string uri, string scheme, string bucket, string prefix)
    {
        var location = ObjectLocation.Parse(uri);
        Assert.Equal(new ObjectLocation(scheme, bucket, prefix), location);
    }

    [Fact]
    public void Relative_file_uris_resolve_against_the_working_directory()
    {
        var location = ObjectLocation.Parse("file://./data/train", workingDirectory: "/work/project");
        Assert.Equal("/work/project/data/train", location.Prefix);
    }

    [Theory]
    [InlineData("http://bucket/x", "spec.inputs[0].uri")]
    [InlineData("s3:///x", "spec.inputs[0].uri")]
    [InlineData("", "spec.inputs[0].uri")]
    public void Bad_uris_name_the_field(string uri, string field)
    {
        var error = Assert.Throws<FormatException>(() => ObjectLocation.Parse(uri, field));
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Child_joins_with_slashes()
    {
        Assert.Equal("s3://b/out/job/output/model.tar.gz", ObjectLocation.Parse("s3://b/out/").Child("job/output/model.tar.gz").ToString());
        Assert.Equal("s3://b/job", ObjectLocation.Parse("s3://b").Child("/job/").ToString());
    }

    [Fact]
    public void Artifact_uris_follow_sagemakers_layout()
    {
        Assert.Equal("s3://b/out/mnist/output/model.tar.gz", ArtifactLocations.ModelUri("s3://b/out/", "mnist"));
        Assert.Equal("s3://b/out/mnist/output/output.tar.gz", ArtifactLocations.OutputUri("s3://b/out", "mnist"));
    }
}
