"""Drives a SageMaker endpoint with boto3 and prints one JSON object per step (the test asserts on them).

usage: python3 boto3_drive.py ENDPOINT REGION ACCESS_KEY SECRET_KEY JOB_NAME
"""
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, region, access_key, secret_key, job_name = sys.argv[1:6]


def client(validate=True):
    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(parameter_validation=validate, retries={"max_attempts": 1, "mode": "standard"}),
    )


def emit(step, **values):
    print(json.dumps({"step": step, **values}, default=str), flush=True)


def error(step, call):
    try:
        call()
        emit(step, outcome="accepted")
    except ClientError as e:
        emit(step, outcome="refused", code=e.response["Error"]["Code"], message=e.response["Error"]["Message"],
             status=e.response["ResponseMetadata"]["HTTPStatusCode"])


sm = client()
request = {
    "TrainingJobName": job_name,
    "AlgorithmSpecification": {
        "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ferry-trainer:0.1.0",
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "train_loss", "Regex": "train_loss=([0-9.]+)"}],
    },
    "RoleArn": "arn:aws:iam::123456789012:role/ferry-training",
    "HyperParameters": {"epochs": "3"},
    "InputDataConfig": [{
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/train", "S3DataDistributionType": "ShardedByS3Key"}},
    }],
    "OutputDataConfig": {"S3OutputPath": "s3://artifacts/out"},
    "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "Tags": [{"Key": "ferry.dev/uid", "Value": "0a1b2c3d"}],
}

created = sm.create_training_job(**request)
emit("create", arn=created["TrainingJobArn"])

described = sm.describe_training_job(TrainingJobName=job_name)
emit("describe", status=described["TrainingJobStatus"], secondary=described["SecondaryStatus"],
     created=described["CreationTime"].timestamp(), model=described["ModelArtifacts"]["S3ModelArtifacts"],
     instances=described["ResourceConfig"]["InstanceCount"])

listed = sm.list_training_jobs(NameContains=job_name[:8], SortBy="Name", SortOrder="Ascending")
emit("list", names=[s["TrainingJobName"] for s in listed["TrainingJobSummaries"]])

tags = sm.list_tags(ResourceArn=created["TrainingJobArn"])
emit("tags", tags=tags["Tags"])

logs = boto3.client("logs", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key, aws_secret_access_key=secret_key)
streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=job_name + "/")
stream = streams["logStreams"][0]["logStreamName"]
events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream, startFromHead=True)
emit("logs", streams=[s["logStreamName"] for s in streams["logStreams"]], messages=[e["message"] for e in events["events"]],
     forward=events["nextForwardToken"])
error("logs_invalid", lambda: logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", limit=51))

sm.stop_training_job(TrainingJobName=job_name)
stopping = sm.describe_training_job(TrainingJobName=job_name)
emit("stop", status=stopping["TrainingJobStatus"], secondary=stopping["SecondaryStatus"])

error("duplicate", lambda: sm.create_training_job(**request))
error("unknown", lambda: sm.describe_training_job(TrainingJobName="no-such-job"))
# botocore checks required members and minimums itself; the server must catch what it does not (patterns, maximums, enums).
error("invalid_pattern", lambda: sm.create_training_job(**{**request, "TrainingJobName": "bad_name"}))
error("invalid_enum", lambda: sm.create_training_job(**{**request, "TrainingJobName": "enum-job",
                                                        "ResourceConfig": {**request["ResourceConfig"], "InstanceType": "ml.x1.huge"}}))
unvalidated = client(validate=False)
missing_role = {k: v for k, v in request.items() if k != "RoleArn"}
error("missing_required", lambda: unvalidated.create_training_job(**{**missing_role, "TrainingJobName": "no-role"}))
wrong = boto3.client("sagemaker", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
                     aws_secret_access_key="wrong-secret", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
error("bad_signature", lambda: wrong.list_training_jobs())
