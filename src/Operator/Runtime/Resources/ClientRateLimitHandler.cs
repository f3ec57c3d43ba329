using Ferry.Operator.Runtime.Timing;

namespace Ferry.Operator.Runtime.Resources;

/// <summary>Client-side QPS/burst limit on every request to the API server (client-go's <c>--kube-api-qps</c>/<c>--kube-api-burst</c>).</summary>
public sealed class ClientRateLimitHandler(TokenBucket bucket) : DelegatingHandler
{
    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await bucket.WaitAsync(cancellationToken).ConfigureAwait(false);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
