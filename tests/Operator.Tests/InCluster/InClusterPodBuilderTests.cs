using Ferry.Crds.V1Alpha1;
using Ferry.Operator.Agent;
using Ferry.Operator.Backends.InCluster;
using Ferry.Operator.Reconciliation;
using k8s.Models;
using static Ferry.Operator.Tests.Fixtures.Build;

namespace Ferry.Operator.Tests.InCluster;

public sealed class InClusterPodBuilderTests
{
    private static readonly InClusterOptions Options = new()
    {
        AgentImage = "registry.local/ferry-operator:1.2.3",
        AgentPath = "/app/ferry",
        SpotNodeSelector = new Dictionary<string, string> { ["karpenter.sh/capacity-type"] = "spot" },
        SpotTolerations = [new V1Toleration { Key = "spot", OperatorProperty = "Exists", Effect = "NoSchedule" }],
        AgentEnvironment = new Dictionary<string, string> { ["FERRY_S3_ENDPOINT"] = "http://minio:9000" },
    };

    private static TrainingJob RichJob() => Job("mnist").WithReplicas(2).With(j =>
    {
        j.Spec.Command = ["python", "train.py"];
        j.Spec.Args = ["--fast"];
        j.Spec.HyperParameters = new Dictionary<string, string> { ["epochs"] = "3" };
        j.Spec.Env = new Dictionary<string, string> { ["NCCL_DEBUG"] = "INFO" };
        j.Spec.Inputs = [new InputChannel { Name = "train", Uri = "s3://data/train", Distribution = S3DataDistribution.ShardedByS3Key }];
        j.Spec.Checkpoint = new CheckpointSpec { Uri = "s3://bucket/ckpt/mnist" };
        j.Spec.Resources!.GpusPerReplica = 4;
        j.Spec.Resources.Cpu = "7500m";
        j.Spec.Resources.Memory = "32Gi";
        j.Spec.InCluster = new InClusterSpec
        {
            NodeSelector = new Dictionary<string, string> { ["gpu"] = "a100" },
            Tolerations = [new V1Toleration { Key = "nvidia.com/gpu", OperatorProperty = "Exists" }],
            PriorityClassName = "training",
            SchedulerName = "volcano",
            ServiceAccountName = "trainer",
        };
    });

    private static Dictionary<string, string> Env(V1Container container) => container.Env.ToDictionary(e => e.Name, e => e.Value);

    [Fact]
    public void Pods_are_named_labelled_and_owned_per_replica_and_attempt()
    {
        var pod = InClusterPodBuilder.Pod(RichJob(), 1, 3, Options);

        Assert.Equal("mnist-1", pod.Metadata.Name);
        Assert.Equal("team-a", pod.Metadata.NamespaceProperty);
        Assert.Equal(new Dictionary<string, string> { ["ferry.dev/job-name"] = "mnist", ["ferry.dev/replica-index"] = "1", ["ferry.dev/attempt"] = "3" }, pod.Metadata.Labels);
        var owner = Assert.Single(pod.Metadata.OwnerReferences);
        Assert.Equal(("ferry.dev/v1alpha1", "TrainingJob", "mnist", "uid-mnist", true, true),
            (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid, owner.Controller, owner.BlockOwnerDeletion));
        Assert.Equal("Never", pod.Spec.RestartPolicy);
        Assert.Equal(("algo-2", "mnist"), (pod.Spec.Hostname, pod.Spec.Subdomain));
        Assert.Equal(["mnist.team-a.svc.cluster.local"], pod.Spec.DnsConfig.Searches);
    }

    [Fact]
    public void The_headless_service_publishes_not_ready_replicas()
    {
        var service = InClusterPodBuilder.Service(RichJob());
        Assert.Equal("mnist", service.Metadata.Name);
        Assert.Equal("None", service.Spec.ClusterIP);
        Assert.True(service.Spec.PublishNotReadyAddresses);
        Assert.Equal(new Dictionary<string, string> { ["ferry.dev/job-name"] = "mnist" }, service.Spec.Selector);
        Assert.Equal("uid-mnist", Assert.Single(service.Metadata.OwnerReferences).Uid);
    }

    [Fact]
    public void Resources_request_cpu_and_memory_and_limit_memory_and_gpus()
    {
        var train = InClusterPodBuilder.Pod(RichJob(), 0, 1, Options).Spec.Containers.Single();
        Assert.Equal("7500m", train.Resources.Requests["cpu"].ToString());
        Assert.Equal("32Gi", train.Resources.Requests["memory"].ToString());
        Assert.Equal("32Gi", train.Resources.Limits["memory"].ToString());
        Assert.Equal("4", train.Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.False(train.Resources.Limits.ContainsKey("cpu"));
        Assert.Null(InClusterPodBuilder.Resources(new ResourceSpec()));
    }

    [Fact]
    public void Placement_comes_from_spec_in_cluster_and_spot_adds_the_operators_spot_placement()
    {
        var onDemand = InClusterPodBuilder.Pod(RichJob(), 0, 1, Options).Spec;
        Assert.Equal(new Dictionary<string, string> { ["gpu"] = "a100" }, onDemand.NodeSelector);
        Assert.Equal(["nvidia.com/gpu"], onDemand.Tolerations.Select(t => t.Key));
        Assert.Equal(("training", "volcano", "trainer"), (onDemand.PriorityClassName, onDemand.SchedulerName, onDemand.ServiceAccountName));

        var spotJob = RichJob();
        spotJob.Spec.Spot = true;
        var spot = InClusterPodBuilder.Pod(spotJob, 0, 1, Options).Spec;
        Assert.Equal(new Dictionary<string, string> { ["gpu"] = "a100", ["karpenter.sh/capacity-type"] = "spot" }, spot.NodeSelector);
        Assert.Equal(["nvidia.com/gpu", "spot"], spot.Tolerations.Select(t => t.Key));
    }

    [Fact]
    public void The_agent_is_installed_by_the_init_container_and_wraps_the_training_command()
    {
        var spec = InClusterPodBuilder.Pod(RichJob(), 0, 1, Options).Spec;
        var init = Assert.Single(spec.InitContainers);
        var train = Assert.Single(spec.Containers);

        Assert.Equal("registry.local/ferry-operator:1.2.3", init.Image);
        Assert.Equal(["/app/ferry", "agent", "init", "--install-to", "/ferry/agent"], init.Command);
        Assert.Equal("ghcr.io/ferry-dev/ferry-trainer:0.1.0", train.Image);
        Assert.Equal(["/ferry/agent/ferry", "agent", "exec", "--", "python", "train.py", "--fast"], train.Command);
        Assert.Equal(("/dev/termination-log", "File"), (train.TerminationMessagePath, train.TerminationMessagePolicy));
        Assert.Equal([("opt-ml", "/opt/ml"), ("ferry-agent", "/ferry/agent")], init.VolumeMounts.Select(m => (m.Name, m.MountPath)));
        Assert.Equal([("opt-ml", "/opt/ml"), ("ferry-agent", "/ferry/agent"), ("dshm", "/dev/shm")], train.VolumeMounts.Select(m => (m.Name, m.MountPath)));

        Assert.All(spec.Volumes, v => Assert.NotNull(v.EmptyDir));
        Assert.Equal(["opt-ml", "ferry-agent", "dshm"], spec.Volumes.Select(v => v.Name));
        Assert.Equal(60, spec.TerminationGracePeriodSeconds);
    }

    [Fact]
    public void Default_command_is_train()
    {
        var job = Job().Build();
        var train = InClusterPodBuilder.Pod(job, 0, 1, Options).Spec.Containers.Single();
        Assert.Equal(["/ferry/agent/ferry", "agent", "exec", "--", "train"], train.Command);
    }

    [Theory]
    [InlineData("SM_CURRENT_HOST", "algo-2")]
    [InlineData("SM_HOSTS", "[\"algo-1\",\"algo-2\"]")]
    [InlineData("SM_NUM_GPUS", "4")]
    [InlineData("SM_NUM_CPUS", "8")]
    [InlineData("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")]
    [InlineData("SM_HP_EPOCHS", "3")]
    [InlineData("MASTER_ADDR", "algo-1")]
    [InlineData("RANK", "1")]
    [InlineData("WORLD_SIZE", "2")]
    [InlineData("NCCL_DEBUG", "INFO")]
    [InlineData("FERRY_OPT_ML", "/opt/ml")]
    [InlineData("FERRY_REPLICA_INDEX", "1")]
    [InlineData("FERRY_STOP_GRACE_SECONDS", "30")]
    [InlineData("FERRY_CHECKPOINT_SYNC_SECONDS", "60")]
    [InlineData("FERRY_TERMINATION_LOG", "/dev/termination-log")]
    [InlineData("FERRY_S3_ENDPOINT", "http://minio:9000")]
    public void Both_containers_get_the_contract_environment(string name, string value)
    {
        var spec = InClusterPodBuilder.Pod(RichJob(), 1, 1, Options).Spec;
        Assert.Equal(value, Env(spec.InitContainers.Single())[name]);
        Assert.Equal(value, Env(spec.Containers.Single())[name]);
    }

    [Fact]
    public void Ferry_job_carries_the_agents_job_description()
    {
        var env = Env(InClusterPodBuilder.Pod(RichJob(), 0, 1, Options).Spec.Containers.Single());
        var agentJob = AgentJob.Deserialize(env["FERRY_JOB"]);
        Assert.Equal("mnist", agentJob.JobName);
        Assert.Equal(2, agentJob.Replicas);
        Assert.Equal([new AgentChannel("train", "s3://data/train", "ShardedByS3Key")], agentJob.Inputs);
        Assert.Equal(("s3://bucket/out", "s3://bucket/ckpt/mnist"), (agentJob.OutputUri, agentJob.CheckpointUri));
        Assert.Equal(MetricDefinition.Defaults.Select(d => d.Name), agentJob.MetricDefinitions.Select(d => d.Name));
    }

    [Fact]
    public void Pods_are_observed_as_replicas_with_their_termination_messages()
    {
        var pod = InClusterPodBuilder.Pod(RichJob(), 1, 2, Options);
        pod.Status = new V1PodStatus
        {
            Phase = "Failed",
            ContainerStatuses = [new V1ContainerStatus
            {
                Name = "train",
                State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 3, Message = "{\"exitCode\":3,\"failureReason\":\"boom\"}", StartedAt = T0.UtcDateTime } },
            }],
        };

        var replica = InClusterBackend.Observe(pod)!;

        Assert.Equal(("mnist-1", 1, 2, ReplicaState.Failed, 3, false), (replica.Name, replica.Index, replica.Attempt, replica.State, replica.ExitCode, replica.Terminating));
        Assert.Equal("boom", TrainingJobStatusCalculator.FailureText(replica));
    }

    [Fact]
    public void A_failed_init_container_is_the_replicas_failure()
    {
        var pod = InClusterPodBuilder.Pod(RichJob(), 0, 1, Options);
        pod.Status = new V1PodStatus
        {
            Phase = "Failed",
            InitContainerStatuses = [new V1ContainerStatus
            {
                Name = "ferry-init",
                State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 1, Message = "spec.inputs[0].uri: bucket not found" } },
            }],
        };

        var text = TrainingJobStatusCalculator.FailureText(InClusterBackend.Observe(pod)!);

        Assert.Contains("ferry-init init container", text, StringComparison.Ordinal);
        Assert.Contains("spec.inputs[0].uri: bucket not found", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("image", "spec.image")]
    [InlineData("file-input", "spec.inputs[0].uri")]
    [InlineData("file-output", "spec.output.uri")]
    [InlineData("spot", "spec.spot")]
    public void Specs_the_backend_cannot_run_are_refused_naming_the_field(string problem, string field)
    {
        var job = Job().Build();
        var options = Options;
        switch (problem)
        {
            case "image": job.Spec.Image = null; break;
            case "file-input": job.Spec.Inputs = [new InputChannel { Name = "train", Uri = "file:///data" }]; break;
            case "file-output": job.Spec.Output = new OutputSpec { Uri = "file://./out" }; break;
            case "spot":
                job.Spec.Spot = true;
                options = Options with { SpotNodeSelector = new Dictionary<string, string>(), SpotTolerations = [] };
                break;
        }

        var backend = new InClusterBackend(null!, null!, null!, options);
        Assert.Contains(field, backend.Validate(job), StringComparison.Ordinal);
        Assert.Null(new InClusterBackend(null!, null!, null!, Options).Validate(Job().Build()));
    }
}
