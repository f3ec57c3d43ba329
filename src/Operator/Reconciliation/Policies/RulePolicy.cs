using System.Text;
using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Insight;

namespace Ferry.Operator.Reconciliation.Policies;

/// <summary>
/// `spec.rules`, acted on while every replica of the current attempt runs. The rules are the pure functions of
/// <see cref="TrainingRuleEvaluator"/> over `status.metricHistory` (only values of the current attempt count). A rule
/// that fires is recorded once per attempt (`status.ruleFirings`), sets `RuleTriggered` (reason: the rule's name,
/// message: the evidence) and an Event; then, status first as every transition: `Stop` records the job `Stopped`
/// with the rule as reason (the replicas are stopped gracefully in the next pass, and nothing restarts it), `Restart`
/// records the next attempt as a failure does (counted against `maxRetries`; the job fails when none are left), and
/// `None` only records. Requeues for the next time a clock rule (Hang, StartDeadline) could fire.
/// </summary>
public static class RulePolicy
{
    /// <summary>The Event reason of a fired rule.</summary>
    public const string EventReason = TrainingJobStatusCalculator.Reasons.RuleTriggered;

    /// <summary>Acts on the first rule with an action that fires; false when none stops or restarts the attempt.</summary>
    public static bool Decide(DecisionContext c)
    {
        var rules = c.Spec.Rules;
        if (rules is not { Count: > 0 } || c.Status.AttemptStartTime is not { } attemptStart
            || c.Current.Count(r => r.State == ReplicaState.Running) < c.Required)
        {
            return false;
        }

        var since = new DateTimeOffset(DecisionContext.Utc(attemptStart));
        var history = new MetricHistory();
        var recorded = MetricHistoryCodec.Decode(c.Status.MetricHistory);
        foreach (var name in recorded.Names)
        {
            foreach (var point in recorded.Of(name).Where(p => p.Time >= since))
            {
                history.Add(name, point);
            }
        }

        var runningSince = c.Current.Where(r => r.StartedAt is not null).Select(r => DecisionContext.Utc(r.StartedAt!.Value)).DefaultIfEmpty(c.Now).Max();
        var clock = new RuleClock(new DateTimeOffset(c.Now), new DateTimeOffset(runningSince));
        foreach (var rule in rules)
        {
            if (TrainingRuleEvaluator.Evaluate(rule, history, clock) is not { } firing || Fired(c, firing.RuleName))
            {
                continue;
            }

            if (Act(c, rule, firing))
            {
                return true;
            }
        }

        if (TrainingRuleEvaluator.NextDeadline(rules, history, clock) is { } next)
        {
            c.Requeue(next.UtcDateTime - c.Now + TimeSpan.FromSeconds(1));
        }

        return false;
    }

    /// <summary>A condition reason from a rule name (reasons allow letters, digits and `_`: `.` and `-` become `_`).</summary>
    public static string ReasonOf(string ruleName)
    {
        var reason = new StringBuilder(ruleName.Length + 5);
        foreach (var ch in ruleName)
        {
            reason.Append(char.IsAsciiLetterOrDigit(ch) || ch == '_' ? ch : '_');
        }

        if (!char.IsAsciiLetter(reason[0]))
        {
            reason.Insert(0, "Rule_");
        }

        while (reason[^1] == '_')
        {
            reason.Length--;
        }

        return reason.ToString();
    }

    private static bool Fired(DecisionContext c, string rule) =>
        c.Status.RuleFirings?.Any(f => f.Rule == rule && f.Attempt == c.Attempt) == true;

    private static bool Act(DecisionContext c, TrainingRule rule, RuleFiring firing)
    {
        var reason = ReasonOf(firing.RuleName);
        var evidence = DecisionContext.Cut(firing.Evidence);
        var firings = c.Status.RuleFirings?.ToList() ?? [];
        firings.Add(new RuleFiringStatus
        {
            Rule = firing.RuleName,
            Type = firing.Type,
            Action = firing.Action,
            Attempt = c.Attempt,
            Time = c.Now,
            Evidence = evidence,
        });
        c.Status.RuleFirings = firings.Count > RuleFiringStatus.Kept ? firings[^RuleFiringStatus.Kept..] : firings;

        var what = $"Training rule {firing.RuleName} ({firing.Type}) fired on attempt {c.Attempt}: {firing.Evidence}.";
        switch (rule.Action)
        {
            case RuleAction.Stop:
            {
                var message = DecisionContext.Cut(what + " The job is stopped (action Stop): its replicas get SIGTERM and their grace period to write a final checkpoint; it is not retried.");
                c.SetCondition(TrainingJobConditions.RuleTriggered, true, reason, message);
                Stop(c, reason, message);
                return true;
            }

            case RuleAction.Restart:
            {
                var retries = c.Status.Retries ?? Math.Max(c.Attempt - 1 - (c.Status.Disruptions ?? 0), 0);
                if (retries < c.Spec.MaxRetries)
                {
                    c.Status.Retries = retries + 1;
                    var backoff = c.Input.Settings.BackoffAfter(retries + 1);
                    var message = DecisionContext.Cut($"{what} Restarting (action Restart): attempt {c.Attempt + 1} starts {PostMortemPolicy.ResumeFrom(c.Spec, c.Status)}; this uses retry {retries + 1} of spec.maxRetries ({c.Spec.MaxRetries}).");
                    c.SetCondition(TrainingJobConditions.RuleTriggered, true, reason, message);
                    FailurePolicy.Restart(c, reason, message, evidence, backoff);
                    return true;
                }

                var failed = DecisionContext.Cut($"{what} Action Restart, but no retries are left (spec.maxRetries is {c.Spec.MaxRetries}): the job fails.");
                c.SetCondition(TrainingJobConditions.RuleTriggered, true, reason, failed);
                c.Fail(reason, failed, evidence);
                return true;
            }

            default:
            {
                var message = DecisionContext.Cut(what + " No action (action None).");
                c.SetCondition(TrainingJobConditions.RuleTriggered, true, reason, message);
                c.Event(TrainingJobEvent.Warning, EventReason, message);
                return false;
            }
        }
    }

    /// <summary>Records the job's end as Stopped by a rule; the next pass (<see cref="FinishedPolicy"/>) stops the replicas.</summary>
    private static void Stop(DecisionContext c, string reason, string message)
    {
        var status = c.Status;
        status.Phase = TrainingJobPhase.Stopped;
        status.CompletionTime = c.Now;
        status.Duration = status.StartTime is { } began ? TrainingJobStatus.FormatDuration(c.Now - DecisionContext.Utc(began)) : null;
        status.NextAttemptTime = null;
        c.SetCondition(TrainingJobConditions.Running, false, reason, $"Stopped by training rule {reason}.");
        c.SetCondition(TrainingJobConditions.Stopped, true, reason, message);
        c.Event(TrainingJobEvent.Warning, EventReason, message);
        c.Ended();
    }
}
