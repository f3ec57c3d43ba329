using Ferry.Crds.V1Alpha1;
using Ferry.KubeEmulator.Faults;
using Ferry.Operator.Backends.SageMaker;
using Ferry.Operator.Reconciliation;
using Ferry.Operator.Runtime.Resources;
using Ferry.Operator.SageMaker;
using Ferry.SageMakerEmulator.Faults;
using Ferry.SageMakerEmulator.Jobs;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Tests.SageMaker;

/// <summary>
/// `backend: SageMaker` end to end through the Kubernetes API emulator (and the real kubectl) and the SageMaker
/// emulator: one training job per attempt whatever fails in between, status and Events following SageMaker, retries,
/// suspend, delete and the role allowlist.
/// </summary>
public sealed class SageMakerLifecycleTests
{
    private static bool Phase(TrainingJob? job, TrainingJobPhase phase) => job?.Status?.Phase == phase;

    [Fact]
    public async Task The_sample_applied_with_kubectl_runs_as_one_SageMaker_job_whose_status_and_events_follow_it_to_Complete()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        var sample = Path.Combine(SageMakerOperatorHarness.RepositoryRoot, "config", "samples", "fashion-mnist-sagemaker.yaml");
        var (applied, applyOutput) = await h.KubectlAsync("apply", "-n", SageMakerOperatorHarness.Namespace, "-f", sample);
        Assert.True(applied == 0, applyOutput);
        const string name = "fashion-mnist-sagemaker";
        await h.WaitForCacheAsync(name);

        var starting = await h.ReconcileUntilAsync(name, j => j?.Status?.SageMaker?.SecondaryStatus == "Starting");
        Assert.Equal(TrainingJobPhase.Starting, starting!.Status!.Phase);
        var smName = await h.SageMakerNameAsync(name, 1);
        Assert.Equal(smName, starting.Status.SageMaker!.JobName);
        Assert.Matches("^fashion-mnist-sagemaker-[0-9a-f]{8}-1$", smName);
        Assert.Equal($"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{smName}", starting.Status.SageMaker.Arn);
        Assert.Contains("logStreamNameFilter$3D" + smName, starting.Status.SageMaker.LogsUrl, StringComparison.Ordinal);

        var downloading = await h.ReconcileUntilAsync(name, j => j?.Status?.SageMaker?.SecondaryStatus == "Downloading");
        Assert.Equal(TrainingJobPhase.Starting, downloading!.Status!.Phase);
        var training = await h.ReconcileUntilAsync(name, j => Phase(j, TrainingJobPhase.Running), TimeSpan.FromSeconds(5));
        Assert.Equal("Training", training!.Status!.SageMaker!.SecondaryStatus);
        Assert.NotNull(training.Status.StartTime);

        var done = await h.ReconcileUntilAsync(name, j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));
        var status = done!.Status!;
        Assert.Equal($"s3://ferry-artifacts-example/fashion-mnist/{smName}/output/model.tar.gz", status.Artifacts!.Model);
        Assert.Equal([("train_loss", 0.25), ("val_accuracy", 0.9)], status.Metrics!.Select(m => (m.Name, Math.Round(m.Value, 4))));
        Assert.Equal(("Completed", "Completed"), (status.SageMaker!.Status, status.SageMaker.SecondaryStatus));
        Assert.True(status.SageMaker.BillableSeconds > 0 && status.SageMaker.TrainingSeconds > status.SageMaker.BillableSeconds);
        Assert.Equal(70, status.SageMaker.SpotSavingsPercent); // the emulator bills 30 % of a spot job's run
        Assert.Equal(1, h.SageMaker.Jobs.Count);
        Assert.Equal(1, h.SageMaker.RequestLog.Count("CreateTrainingJob"));

        // Every SecondaryStatusTransitions entry became exactly one Event, in order, also after more passes.
        for (var i = 0; i < 3; i++)
        {
            await h.PassAsync(name);
        }

        var transitions = h.Describe(smName)["SecondaryStatusTransitions"]!.AsArray().Select(t => "SageMaker" + (string)t!["Status"]!).ToList();
        Assert.Equal(["SageMakerStarting", "SageMakerDownloading", "SageMakerTraining", "SageMakerUploading", "SageMakerCompleted"], transitions);
        var events = (await h.EventsOfAsync(name)).Select(e => e.Reason).Where(r => r.StartsWith("SageMaker", StringComparison.Ordinal)).ToList();
        Assert.Equal(transitions, events);
        Assert.Equal(5, (await h.GetAsync(name))!.Status!.SageMaker!.TransitionsReported);

        var (waited, waitOutput) = await h.KubectlAsync("wait", "-n", SageMakerOperatorHarness.Namespace, "--for=condition=Complete", $"tj/{name}", "--timeout=20s");
        Assert.True(waited == 0, waitOutput);
        Assert.Contains($"trainingjob.ferry.dev/{name} condition met", waitOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_SageMaker_job_fails_the_resource_with_SageMakers_failure_reason()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.When("broken-*", SageMakerOperatorHarness.Script with { Outcome = JobOutcome.Failed, FailureReason = "AlgorithmError: loss is NaN at epoch 3" });
        await h.ApplyAsync(SageMakerOperatorHarness.Job("broken"));

        var failed = await h.ReconcileUntilAsync("broken", j => Phase(j, TrainingJobPhase.Failed), TimeSpan.FromSeconds(15));

        Assert.Equal("AlgorithmError: loss is NaN at epoch 3", failed!.Status!.FailureReason);
        Assert.Equal("AlgorithmError: loss is NaN at epoch 3", failed.Status.SageMaker!.FailureReason);
        var condition = ConditionList.Find(failed.Status.Conditions, TrainingJobConditions.Failed)!;
        Assert.Equal(("True", "ReplicaFailed"), (condition.Status, condition.Reason));
        Assert.Null(failed.Status.Artifacts?.Model);
        Assert.Contains(await h.EventsOfAsync("broken"), e => e is { Type: "Warning", Reason: "SageMakerFailed" });
        Assert.Equal(1, h.SageMaker.Jobs.Count);
    }

    [Fact]
    public async Task A_failed_two_instance_job_leaves_a_post_mortem_naming_the_failed_transition_the_failing_host_and_its_log_stream()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        const string reason = "AlgorithmError: ExecuteUserScriptError: Command \"train\" exited with code 1";
        h.SageMaker.Scripts.When("crashed-*", SageMakerOperatorHarness.Script with
        {
            Outcome = JobOutcome.Failed,
            FailureReason = reason,
            LogLines =
            [
                new LogLine(TimeSpan.FromMinutes(1), "epoch=1 step=100 train_loss=0.61"),
                new LogLine(TimeSpan.FromMinutes(5), "Traceback (most recent call last):", Host: 2),
                new LogLine(TimeSpan.FromMinutes(5), "  File \"train.py\", line 88, in <module>", Host: 2),
                new LogLine(TimeSpan.FromMinutes(5), "RuntimeError: CUDA error: an illegal memory access was encountered, password=hunter2secret", Host: 2),
                new LogLine(TimeSpan.FromMinutes(7), "RuntimeError: [Rank 0] Watchdog caught collective operation timeout", Host: 1),
            ],
        });
        await h.ApplyAsync(SageMakerOperatorHarness.Job("crashed", s => s.Resources!.Replicas = 2));

        var failed = await h.ReconcileUntilAsync("crashed", j => Phase(j, TrainingJobPhase.Failed), TimeSpan.FromSeconds(15));

        var smName = await h.SageMakerNameAsync("crashed", 1);
        var record = Assert.Single(failed!.Status!.AttemptFailures!);
        Assert.Equal((1, 1, smName, "algo-2", "Training", reason), (record.Attempt, record.Replica, record.Pod, record.Node, record.Cause, record.Message));
        Assert.Null(record.ExitCode);
        Assert.Null(record.FailedAfter);
        // Host 2 erred first; host 1 only timed out waiting for it.
        Assert.Contains("RuntimeError: CUDA error: an illegal memory access was encountered, password=***", record.LogTail, StringComparison.Ordinal);
        Assert.StartsWith("epoch=1 step=100 train_loss=0.61\nTraceback (most recent call last):", record.LogTail, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2secret", record.LogTail, StringComparison.Ordinal);
        Assert.DoesNotContain("Watchdog", record.LogTail, StringComparison.Ordinal);
        var link = System.Text.RegularExpressions.Regex.Match(record.Logs!,
            "^https://eu-west-1\\.console\\.aws\\.amazon\\.com/cloudwatch/home\\?region=eu-west-1#logsV2:log-groups/log-group/\\$252Faws\\$252Fsagemaker\\$252FTrainingJobs/log-events/(?<stream>.+)$");
        Assert.True(link.Success, record.Logs);
        var stream = link.Groups["stream"].Value.Replace("$252F", "/", StringComparison.Ordinal);
        Assert.Matches($"^{smName}/algo-2-[0-9]+$", stream);
        var events = h.SageMaker.Jobs.GetLogEvents(new System.Text.Json.Nodes.JsonObject { ["logGroupName"] = "/aws/sagemaker/TrainingJobs", ["logStreamName"] = stream });
        Assert.Equal(4, events["events"]!.AsArray().Count); // the link opens the failing host's own stream
        Assert.Equal(reason, failed.Status.FailureReason);

        // kubectl describe prints a custom resource's fields in alphabetical order: in Status, the post-mortem comes
        // before the conditions and the failure reason.
        var (code, describe) = await h.KubectlAsync("describe", "-n", SageMakerOperatorHarness.Namespace, "tj", "crashed");
        Assert.True(code == 0, describe);
        var status = describe.IndexOf("\nStatus:", StringComparison.Ordinal);
        var postMortem = describe.IndexOf("Attempt Failures:", StringComparison.Ordinal);
        Assert.True(status >= 0 && postMortem > status, describe);
        Assert.True(postMortem < describe.IndexOf("Conditions:", status, StringComparison.Ordinal), describe);
        Assert.True(postMortem < describe.IndexOf("Failure Reason:", status, StringComparison.Ordinal), describe);
        Assert.Contains("algo-2", describe[postMortem..], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_attempt_with_retries_left_runs_the_next_attempt_as_a_new_job_from_the_checkpoint()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Scripts.When("retried-*-1", SageMakerOperatorHarness.Script with { Outcome = JobOutcome.Failed, FailureReason = "AlgorithmError: CUDA out of memory" });
        await h.ApplyAsync(SageMakerOperatorHarness.Job("retried", s =>
        {
            s.MaxRetries = 2;
            s.Checkpoint = new CheckpointSpec { Uri = "s3://artifacts/mnist/checkpoints" };
        }));

        var done = await h.ReconcileUntilAsync("retried", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));

        var first = await h.SageMakerNameAsync("retried", 1);
        var second = await h.SageMakerNameAsync("retried", 2);
        Assert.Equal([first, second], h.SageMaker.Jobs.Names);
        Assert.Equal(second[..^2], first[..^2]);
        Assert.Equal((2, 1, second), (done!.Status!.Attempt, done.Status.Retries, done.Status.SageMaker!.JobName));
        Assert.Equal("Failed", (string)h.Describe(first)["TrainingJobStatus"]!);
        Assert.Equal("s3://artifacts/mnist/checkpoints", (string)h.Describe(second)["CheckpointConfig"]!["S3Uri"]!);
        Assert.Equal($"s3://artifacts/mnist/{second}/output/model.tar.gz", done.Status.Artifacts!.Model);
        Assert.Contains(await h.EventsOfAsync("retried"), e => e.Reason == "Restarting" && e.Message.Contains("CUDA out of memory", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Suspend_stops_the_SageMaker_job_and_resume_starts_the_next_attempt()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        await h.ApplyAsync(SageMakerOperatorHarness.Job("paused", s => s.Checkpoint = new CheckpointSpec { Uri = "s3://artifacts/mnist/checkpoints" }));
        await h.ReconcileUntilAsync("paused", j => Phase(j, TrainingJobPhase.Running));
        var first = await h.SageMakerNameAsync("paused", 1);

        await h.Jobs.PatchAsync(SageMakerOperatorHarness.Namespace, "paused", new V1Patch("{\"spec\":{\"suspend\":true}}", V1Patch.PatchType.MergePatch));
        var suspended = await h.ReconcileUntilAsync("paused", j => Phase(j, TrainingJobPhase.Suspended) && h.Describe(first)["TrainingJobStatus"]!.ToString() == "Stopped");
        Assert.Equal(1, h.SageMaker.RequestLog.Count("StopTrainingJob"));
        Assert.Contains("resumes from the last checkpoint in s3://artifacts/mnist/checkpoints",
            ConditionList.Find(suspended!.Status!.Conditions, TrainingJobConditions.Suspended)!.Message, StringComparison.Ordinal);
        var describes = h.SageMaker.RequestLog.Count("DescribeTrainingJob");
        for (var i = 0; i < 5; i++)
        {
            h.Time.Advance(TimeSpan.FromMinutes(5));
            await h.PassAsync("paused");
        }

        Assert.True(h.SageMaker.RequestLog.Count("DescribeTrainingJob") - describes <= 1, "a suspended job is not polled");

        await h.Jobs.PatchAsync(SageMakerOperatorHarness.Namespace, "paused", new V1Patch("{\"spec\":{\"suspend\":false}}", V1Patch.PatchType.MergePatch));
        var done = await h.ReconcileUntilAsync("paused", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));

        var second = await h.SageMakerNameAsync("paused", 2);
        Assert.Equal([first, second], h.SageMaker.Jobs.Names);
        Assert.Equal((2, null), (done!.Status!.Attempt, done.Status.Retries)); // resuming uses up no retry
        Assert.Equal("s3://artifacts/mnist/checkpoints", (string)h.Describe(second)["CheckpointConfig"]!["S3Uri"]!);
    }

    [Fact]
    public async Task Deleting_a_running_job_stops_the_SageMaker_job_and_the_finalizer_goes_once_it_stopped()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        await h.ApplyAsync(SageMakerOperatorHarness.Job("doomed"));
        var running = await h.ReconcileUntilAsync("doomed", j => Phase(j, TrainingJobPhase.Running));
        Assert.Contains(TrainingJobLabels.Finalizer, running!.Metadata.Finalizers);
        var smName = await h.SageMakerNameAsync("doomed", 1);

        await h.Jobs.DeleteAsync(SageMakerOperatorHarness.Namespace, "doomed");
        var deleting = await h.ReconcileUntilAsync("doomed", j => j?.Metadata.DeletionTimestamp is not null && (string)h.Describe(smName)["TrainingJobStatus"]! == "Stopping");
        Assert.Contains(TrainingJobLabels.Finalizer, deleting!.Metadata.Finalizers); // still stopping: the finalizer stays

        var gone = await h.ReconcileUntilAsync("doomed", j => j is null, TimeSpan.FromSeconds(10));
        Assert.Null(gone);
        Assert.Equal("Stopped", (string)h.Describe(smName)["TrainingJobStatus"]!);
        Assert.Equal(1, h.SageMaker.RequestLog.Count("StopTrainingJob"));
    }

    [Fact]
    public async Task Deleting_with_the_retain_policy_leaves_the_SageMaker_job_running()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        var job = SageMakerOperatorHarness.Job("kept");
        job.Metadata.Annotations = new Dictionary<string, string> { [SageMakerBackend.DeletionPolicyAnnotation] = SageMakerBackend.RetainPolicy };
        await h.ApplyAsync(job);
        await h.ReconcileUntilAsync("kept", j => Phase(j, TrainingJobPhase.Running));
        var smName = await h.SageMakerNameAsync("kept", 1);

        await h.Jobs.DeleteAsync(SageMakerOperatorHarness.Namespace, "kept");
        await h.ReconcileUntilAsync("kept", j => j is null);

        Assert.Equal(0, h.SageMaker.RequestLog.Count("StopTrainingJob"));
        Assert.Equal("InProgress", (string)h.Describe(smName)["TrainingJobStatus"]!);
    }

    [Fact]
    public async Task A_role_the_allowlist_does_not_permit_fails_the_job_before_any_SageMaker_call()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        await h.ApplyAsync(SageMakerOperatorHarness.Job("intruder", s => s.SageMaker!.RoleArn = "arn:aws:iam::123456789012:role/admin"));

        var failed = await h.ReconcileUntilAsync("intruder", j => Phase(j, TrainingJobPhase.Failed));

        var condition = ConditionList.Find(failed!.Status!.Conditions, TrainingJobConditions.Failed)!;
        Assert.Equal(SageMakerBackend.RoleNotAllowed, condition.Reason);
        Assert.Contains("spec.sageMaker.roleArn arn:aws:iam::123456789012:role/admin is not allowed", condition.Message, StringComparison.Ordinal);
        Assert.Contains("sageMaker.allowedRoles.default", condition.Message, StringComparison.Ordinal);
        Assert.Empty(h.SageMaker.RequestLog.Counts);

        await h.Jobs.DeleteAsync(SageMakerOperatorHarness.Namespace, "intruder");
        await h.ReconcileUntilAsync("intruder", j => j is null);
        Assert.Empty(h.SageMaker.RequestLog.Counts);
    }

    [Fact]
    public async Task An_operator_restarted_between_create_and_status_write_adopts_the_job_it_created()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        await h.ApplyAsync(SageMakerOperatorHarness.Job("crashy"));
        // The pass that creates the SageMaker job cannot record it: its status write fails (the operator dies there).
        var rule = h.Api.Faults.Add(new FaultRule { Verb = "update", Resource = "trainingjobs", Subresource = "status", StatusCode = 500 });
        await Assert.ThrowsAsync<KubernetesApiException>(() => h.Reconciler.ReconcileAsync(SageMakerOperatorHarness.Namespace, "crashy", CancellationToken.None));
        h.Api.Faults.Remove(rule);
        Assert.Equal(1, h.SageMaker.Jobs.Count);
        Assert.Null((await h.GetAsync("crashy"))!.Status?.SageMaker);

        h.Restart();
        var done = await h.ReconcileUntilAsync("crashy", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));

        Assert.Equal(1, h.SageMaker.Jobs.Count);
        Assert.Equal(1, h.SageMaker.RequestLog.Count("CreateTrainingJob"));
        Assert.True(h.SageMaker.RequestLog.Count("ListTags") >= 1, "the job was adopted by its uid tag");
        Assert.Equal(await h.SageMakerNameAsync("crashy", 1), done!.Status!.SageMaker!.JobName);
    }

    [Theory]
    [InlineData(LostResponse.Abort)]
    [InlineData(LostResponse.InternalError)]
    public async Task A_create_whose_response_was_lost_still_ends_with_one_job(LostResponse how)
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Faults.LoseNextCreateResponses(1, how);
        await h.ApplyAsync(SageMakerOperatorHarness.Job("lost"));

        var done = await h.ReconcileUntilAsync("lost", j => Phase(j, TrainingJobPhase.Succeeded), TimeSpan.FromSeconds(15));

        Assert.Equal([await h.SageMakerNameAsync("lost", 1)], h.SageMaker.Jobs.Names);
        Assert.Equal(1, done!.Status!.Attempt);
        Assert.True(h.SageMaker.RequestLog.Count("CreateTrainingJob") >= 2, "the lost create was retried and answered ResourceInUse");
    }

    [Fact]
    public async Task A_name_taken_by_another_resources_job_fails_with_NameConflict_and_leaves_that_job_alone()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        var created = await h.ApplyAsync(SageMakerOperatorHarness.Job("twin", s => s.Suspend = true));
        await h.ReconcileUntilAsync("twin", j => Phase(j, TrainingJobPhase.Suspended));
        var smName = SageMakerJobName.For("twin", created.Metadata.Uid, 1);
        var other = SageMakerOperatorHarness.Job("twin");
        other.Metadata.Uid = created.Metadata.Uid;
        var foreign = TrainingJobRequestBuilder.Build(other, 1);
        h.SageMaker.Jobs.Create(System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(foreign with
        {
            Tags = [new Tag(TrainingJobRequestBuilder.UidTag, "someone-else")],
        }, SageMakerJson.Options))!.AsObject());

        await h.Jobs.PatchAsync(SageMakerOperatorHarness.Namespace, "twin", new V1Patch("{\"spec\":{\"suspend\":false}}", V1Patch.PatchType.MergePatch));
        var failed = await h.ReconcileUntilAsync("twin", j => Phase(j, TrainingJobPhase.Failed));

        var condition = ConditionList.Find(failed!.Status!.Conditions, TrainingJobConditions.Failed)!;
        Assert.Equal(SageMakerBackend.NameConflict, condition.Reason);
        Assert.Contains($"A SageMaker training job named {smName} already exists", condition.Message, StringComparison.Ordinal);
        Assert.Contains("rename the TrainingJob", condition.Message, StringComparison.Ordinal);
        await h.Jobs.DeleteAsync(SageMakerOperatorHarness.Namespace, "twin");
        await h.ReconcileUntilAsync("twin", j => j is null);
        Assert.Equal(0, h.SageMaker.RequestLog.Count("StopTrainingJob"));
        Assert.Equal("InProgress", (string)h.Describe(smName)["TrainingJobStatus"]!);
    }

    [Fact]
    public async Task Under_20_percent_throttling_and_5_percent_server_errors_every_job_ends_right_with_one_SageMaker_job_per_attempt()
    {
        await using var h = await SageMakerOperatorHarness.StartAsync();
        h.SageMaker.Faults.Seed(42);
        h.SageMaker.Faults.ThrottleRate(0.20);
        h.SageMaker.Faults.FailRate(0.05, 503);
        h.SageMaker.Scripts.When("flaky-f*", SageMakerOperatorHarness.Script with { Outcome = JobOutcome.Failed, FailureReason = "AlgorithmError: bad data" });
        string[] names = ["flaky-s1", "flaky-s2", "flaky-s3", "flaky-f1", "flaky-f2"];
        foreach (var name in names)
        {
            await h.ApplyAsync(SageMakerOperatorHarness.Job(name));
        }

        var deadline = DateTime.UtcNow.AddSeconds(120);
        var final = new Dictionary<string, TrainingJob?>();
        while (final.Count < names.Length)
        {
            Assert.True(DateTime.UtcNow < deadline, $"not finished: {string.Join(", ", names.Except(final.Keys))}");
            foreach (var name in names.Except(final.Keys).ToList())
            {
                try
                {
                    await h.Reconciler.ReconcileAsync(SageMakerOperatorHarness.Namespace, name, CancellationToken.None);
                }
                catch (Exception e) when (e is SageMakerException or KubernetesApiException)
                {
                    // Retries ran out for this pass: the controller requeues it with backoff; so does this loop.
                }

                if ((await h.GetAsync(name))?.Status?.Phase is { } phase && TrainingJobStatusCalculator.IsFinished(phase))
                {
                    final[name] = await h.GetAsync(name);
                }
            }

            await Task.Delay(20);
            h.Time.Advance(TimeSpan.FromSeconds(15));
        }

        Assert.All(names, n => Assert.Equal(n.StartsWith("flaky-s", StringComparison.Ordinal) ? TrainingJobPhase.Succeeded : TrainingJobPhase.Failed, final[n]!.Status!.Phase));
        Assert.All(names.Where(n => n.StartsWith("flaky-f", StringComparison.Ordinal)), n => Assert.Equal("AlgorithmError: bad data", final[n]!.Status!.FailureReason));
        Assert.Equal(names.Length, h.SageMaker.Jobs.Count);
        Assert.True(h.SageMaker.RequestLog.Entries.Count(e => e.ErrorCode == "ThrottlingException") > 0, "faults were injected");
    }
}
