namespace Ferry.Operator.SageMaker;

/// <summary>
/// The SageMaker operations the operator uses, named and shaped as in <c>AWSSDK.SageMaker</c>'s <c>IAmazonSageMaker</c>
/// so that package can stand in the day it is available. Errors are <see cref="SageMakerException"/>s.
/// </summary>
public interface ISageMakerClient
{
    /// <summary>Creates a training job; <see cref="ResourceInUseException"/> when the name is taken.</summary>
    Task<CreateTrainingJobResponse> CreateTrainingJobAsync(CreateTrainingJobRequest request, CancellationToken cancellationToken = default);

    /// <summary>Describes a training job; <see cref="ResourceNotFoundException"/> when there is none of that name.</summary>
    Task<DescribeTrainingJobResponse> DescribeTrainingJobAsync(DescribeTrainingJobRequest request, CancellationToken cancellationToken = default);

    /// <summary>Asks SageMaker to stop an in-progress job; a job in any other state answers <see cref="SageMakerValidationException"/>.</summary>
    Task<StopTrainingJobResponse> StopTrainingJobAsync(StopTrainingJobRequest request, CancellationToken cancellationToken = default);

    /// <summary>One page of training jobs.</summary>
    Task<ListTrainingJobsResponse> ListTrainingJobsAsync(ListTrainingJobsRequest request, CancellationToken cancellationToken = default);

    /// <summary>One page of a resource's tags (DescribeTrainingJob does not return them).</summary>
    Task<ListTagsResponse> ListTagsAsync(ListTagsRequest request, CancellationToken cancellationToken = default);
}

/// <summary>StopTrainingJob's output: empty.</summary>
public sealed record StopTrainingJobResponse;
