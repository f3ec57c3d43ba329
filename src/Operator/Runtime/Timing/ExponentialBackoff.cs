namespace Ferry.Operator.Runtime.Timing;

/// <summary>Exponential backoff with jitter: <c>initial * 2^failures</c>, capped, plus up to <c>jitter</c> of itself.</summary>
/// <param name="Initial">Delay after the first failure.</param>
/// <param name="Max">Upper bound before jitter is added.</param>
/// <param name="Jitter">Fraction of the delay added at random (0 = none), so many clients do not retry in lockstep.</param>
public sealed record ExponentialBackoff(TimeSpan Initial, TimeSpan Max, double Jitter = 0.2)
{
    /// <summary>The delay after <paramref name="failures"/> consecutive failures (1 = first failure).</summary>
    /// <param name="failures">Consecutive failures so far, at least 1.</param>
    /// <param name="random">Source of jitter; <see cref="Random.Shared"/> when null.</param>
    public TimeSpan Delay(int failures, Random? random = null)
    {
        var exponent = Math.Clamp(failures - 1, 0, 62);
        var ticks = Initial.Ticks * Math.Pow(2, exponent);
        var capped = Math.Min(ticks, Max.Ticks);
        var jitter = Jitter > 0 ? capped * Jitter * (random ?? Random.Shared).NextDouble() : 0;
        return TimeSpan.FromTicks((long)(capped + jitter));
    }
}
