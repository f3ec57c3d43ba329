using System.Collections.Concurrent;
using Ferry.Operator.Runtime.Queue;
using Ferry.Operator.Runtime.Timing;
using Ferry.Operator.Tests.Runtime.Support;

namespace Ferry.Operator.Tests.Runtime.Queue;

public sealed class WorkQueueTests
{
    private readonly TestTime _time = new();

    private WorkQueue<string> NewQueue(IRateLimiter<string>? limiter = null) =>
        new($"test-{Guid.NewGuid():N}", limiter ?? new ItemExponentialRateLimiter<string>(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60)), _time);

    private static async Task<string> Next(WorkQueue<string> queue)
    {
        var item = await queue.GetAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        Assert.False(item.ShuttingDown);
        return item.Key;
    }

    [Fact]
    public async Task A_key_waits_in_the_queue_at_most_once_and_order_is_kept()
    {
        using var queue = NewQueue();
        queue.Add("a");
        queue.Add("b");
        queue.Add("a");

        Assert.Equal(2, queue.Count);
        Assert.Equal("a", await Next(queue));
        Assert.Equal("b", await Next(queue));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task A_key_in_process_is_not_handed_out_again_until_done_then_it_is()
    {
        using var queue = NewQueue();
        queue.Add("a");
        Assert.Equal("a", await Next(queue));

        queue.Add("a");
        queue.Add("a");
        Assert.Equal(0, queue.Count);
        var second = queue.GetAsync(CancellationToken.None);
        Assert.False(second.IsCompleted);

        queue.Done("a");
        var item = await second.WaitAsync(Wait.Generous);
        Assert.Equal("a", item.Key);
        queue.Done("a");
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task Done_without_readding_drops_the_key()
    {
        using var queue = NewQueue();
        queue.Add("a");
        await Next(queue);
        queue.Done("a");
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task Rate_limited_adds_back_off_exponentially_per_key_and_forget_resets()
    {
        using var queue = NewQueue();

        queue.AddRateLimited("a");
        Assert.Equal(0, queue.Count);
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(0, queue.Count);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, queue.Count);
        await Next(queue);
        queue.Done("a");

        queue.AddRateLimited("a");
        _time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal(0, queue.Count);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, queue.Count);
        await Next(queue);
        queue.Done("a");

        queue.AddRateLimited("a");
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(0, queue.Count);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
        Assert.Equal(3, queue.NumRequeues("a"));

        queue.Forget("a");
        Assert.Equal(0, queue.NumRequeues("a"));
        await Next(queue);
        queue.Done("a");
        queue.AddRateLimited("a");
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void Per_key_backoff_is_capped()
    {
        var limiter = new ItemExponentialRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000));
        var delays = Enumerable.Range(0, 30).Select(_ => limiter.When("k")).ToList();

        Assert.Equal(TimeSpan.FromMilliseconds(5), delays[0]);
        Assert.Equal(TimeSpan.FromMilliseconds(10), delays[1]);
        Assert.Equal(TimeSpan.FromMilliseconds(5 * 1024), delays[10]);
        Assert.Equal(TimeSpan.FromSeconds(1000), delays[^1]);
        Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When("other"));
    }

    [Fact]
    public void Add_after_fires_through_the_clock_and_the_earliest_time_wins()
    {
        using var queue = NewQueue();
        queue.AddAfter("a", TimeSpan.FromSeconds(10));
        queue.AddAfter("a", TimeSpan.FromSeconds(2));
        queue.AddAfter("b", TimeSpan.FromSeconds(1));
        queue.AddAfter("b", TimeSpan.FromSeconds(5));
        Assert.Equal(2, queue.DelayedCount);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, queue.Count);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(2, queue.Count);
        Assert.Equal(0, queue.DelayedCount);
    }

    [Fact]
    public void Add_after_a_key_already_queued_does_not_queue_it_twice()
    {
        using var queue = NewQueue();
        queue.Add("a");
        queue.AddAfter("a", TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void Token_bucket_allows_a_burst_then_spaces_requests_at_the_rate()
    {
        var limiter = new BucketRateLimiter<string>(new TokenBucket(qps: 2, burst: 3, _time));

        Assert.Equal(TimeSpan.Zero, limiter.When("a"));
        Assert.Equal(TimeSpan.Zero, limiter.When("b"));
        Assert.Equal(TimeSpan.Zero, limiter.When("c"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), limiter.When("d"));
        Assert.Equal(TimeSpan.FromMilliseconds(1000), limiter.When("e"));

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.Zero, limiter.When("f"));
    }

    [Fact]
    public void Default_controller_limiter_takes_the_longer_of_per_key_backoff_and_the_bucket()
    {
        var limiter = RateLimiters.DefaultController<string>(_time);
        var first = Enumerable.Range(0, 100).Select(i => limiter.When($"k{i}")).ToList();
        Assert.All(first, d => Assert.Equal(TimeSpan.FromMilliseconds(5), d));

        // The bucket (10 qps, burst 100) is empty now: the next distinct key waits for a token.
        Assert.Equal(TimeSpan.FromMilliseconds(100), limiter.When("k100"));
    }

    [Fact]
    public async Task Getters_wait_for_adds_and_can_be_cancelled()
    {
        using var queue = NewQueue();
        using var cancel = new CancellationTokenSource();
        var waiting = queue.GetAsync(cancel.Token);
        Assert.False(waiting.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        var next = queue.GetAsync(CancellationToken.None);
        queue.Add("a");
        Assert.Equal("a", (await next.WaitAsync(Wait.Generous)).Key);
    }

    [Fact]
    public async Task Shutdown_with_drain_hands_out_queued_keys_and_completes_when_all_are_done()
    {
        using var queue = NewQueue();
        queue.Add("a");
        queue.Add("b");
        queue.AddAfter("later", TimeSpan.FromSeconds(1));
        Assert.Equal("a", await Next(queue));

        var drained = queue.ShutDownAsync(drain: true);
        queue.Add("c");
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(drained.IsCompleted);
        Assert.Equal(1, queue.Count);

        Assert.Equal("b", await Next(queue));
        queue.Done("a");
        Assert.False(drained.IsCompleted);
        queue.Done("b");
        await drained.WaitAsync(Wait.Generous);

        var end = await queue.GetAsync(CancellationToken.None).WaitAsync(Wait.Generous);
        Assert.True(end.ShuttingDown);
    }

    [Fact]
    public async Task Shutdown_wakes_idle_getters()
    {
        using var queue = NewQueue();
        var waiting = queue.GetAsync(CancellationToken.None);
        await queue.ShutDownAsync(drain: true).WaitAsync(Wait.Generous);
        Assert.True((await waiting.WaitAsync(Wait.Generous)).ShuttingDown);
    }

    [Fact]
    public async Task Concurrent_workers_never_process_the_same_key_at_once_and_every_add_is_seen()
    {
        using var queue = NewQueue();
        var inFlight = new ConcurrentDictionary<string, int>();
        var processedAfterLastAdd = new ConcurrentDictionary<string, bool>();
        var overlaps = 0;
        using var stop = new CancellationTokenSource();

        async Task Worker()
        {
            while (true)
            {
                var item = await queue.GetAsync(stop.Token);
                if (item.ShuttingDown)
                {
                    return;
                }

                if (inFlight.AddOrUpdate(item.Key, 1, (_, n) => n + 1) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                processedAfterLastAdd[item.Key] = true;
                await Task.Yield();
                inFlight.AddOrUpdate(item.Key, 0, (_, n) => n - 1);
                queue.Done(item.Key);
            }
        }

        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(Worker)).ToArray();
        var keys = Enumerable.Range(0, 5).Select(i => $"k{i}").ToArray();
        for (var round = 0; round < 2000; round++)
        {
            var key = keys[round % keys.Length];
            processedAfterLastAdd[key] = false;
            queue.Add(key);
        }

        await Wait.UntilAsync(() => keys.All(k => processedAfterLastAdd[k]) && queue.Count == 0, "every key processed after its last add");
        await queue.ShutDownAsync(drain: true).WaitAsync(Wait.Generous);
        await Task.WhenAll(workers).WaitAsync(Wait.Generous);
        Assert.Equal(0, overlaps);
    }
}
