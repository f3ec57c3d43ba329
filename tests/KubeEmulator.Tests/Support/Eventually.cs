namespace Ferry.KubeEmulator.Tests.Support;

/// <summary>Polls an observable condition with a generous timeout (for work that completes on background tasks).</summary>
public static class Eventually
{
    public static async Task<T> ValueAsync<T>(Func<T?> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        T? last = default;
        while (DateTime.UtcNow < deadline)
        {
            last = probe();
            if (last is not null && done(last))
            {
                return last;
            }

            await Task.Delay(10);
        }

        throw new Xunit.Sdk.XunitException($"timed out waiting for {what}; last value: {last}");
    }
}
