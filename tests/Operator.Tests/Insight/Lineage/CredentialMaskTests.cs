using Ferry.Operator.Insight.Lineage;

namespace Ferry.Operator.Tests.Insight.Lineage;

public sealed class CredentialMaskTests
{
    [Theory]
    [InlineData("epochs", "10", "10")]
    [InlineData("learning_rate", "0.001", "0.001")]
    [InlineData("data_url", "https://bucket.s3.amazonaws.com/d.csv", "https://bucket.s3.amazonaws.com/d.csv")]
    [InlineData("tokenizer_name", "bert-base-uncased", "<masked>")]
    [InlineData("api_token", "abc123def456", "<masked>")]
    [InlineData("HF_API_KEY", "hf_xyz", "<masked>")]
    [InlineData("db-password", "hunter22", "<masked>")]
    [InlineData("aws_secret_access_key", "wJalr", "<masked>")]
    [InlineData("data_url", "https://b.s3.amazonaws.com/d.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA&X-Amz-Signature=fa4e", "https://b.s3.amazonaws.com/d.csv?<masked>")]
    [InlineData("blob", "https://acct.blob.core.windows.net/c/d.csv?sv=2022-11-02&sig=abc%3D", "https://acct.blob.core.windows.net/c/d.csv?<masked>")]
    [InlineData("gcs", "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4&X-Goog-Signature=00ff", "https://storage.googleapis.com/b/o?<masked>")]
    [InlineData("raw", "X-Amz-Signature=fa4e", "<masked>")]
    public void Credential_names_and_signed_queries_are_masked_everything_else_is_kept(string name, string value, string recorded) =>
        Assert.Equal(recorded, CredentialMask.HyperParameter(name, value));
}
