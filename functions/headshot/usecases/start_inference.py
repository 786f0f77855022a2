"""Start a queued round: write its request manifest and invoke the endpoint, once per round."""

from __future__ import annotations

from dataclasses import dataclass

from headshot.contract import S3Location
from headshot.jobs import Job, JobStatus
from headshot.usecases.layout import request_key
from headshot.usecases.manifests import request_manifest
from headshot.usecases.ports import InferenceClient, JobStore, ObjectStorage, update


@dataclass(frozen=True, slots=True)
class StartInference:
    store: JobStore
    storage: ObjectStorage
    inference: InferenceClient | None

    def __call__(self, job: Job) -> Job:
        if job.status is not JobStatus.QUEUED or job.inference_invoked or job.inference_id is None:
            return job
        if self.inference is None:
            raise RuntimeError("this function has no inference client (SAGEMAKER_ENDPOINT_NAME)")
        # 1. The request manifest, at a key per round (a retry rewrites the same document).
        bucket = self.storage.bucket
        key = request_key(job.job_id, job.round)
        self.storage.put(key, request_manifest(job, bucket).encode(), "application/json")
        # 2. One asynchronous invocation, named by job and round so duplicates are recognisable.
        invocation = self.inference.invoke(S3Location(bucket, key).uri, job.inference_id)
        expected_round = job.round

        # 3. Where SageMaker will write, recorded for erasure; invoked only if the round is still current.
        def record(current: Job) -> None:
            locations = [invocation.output_location, invocation.failure_location]
            current.inference_objects.extend(loc for loc in locations if loc and loc not in current.inference_objects)
            if current.round == expected_round and current.status is JobStatus.QUEUED:
                current.inference_invoked = True
                current.output_location = invocation.output_location

        outcome = update(self.store, job.job_id, record)
        if outcome is None or outcome[0].status is JobStatus.DELETED:
            # Deleted meanwhile: the manifest (photo URIs, the reference embedding) must not outlive
            # the DELETE; what the endpoint writes is erased when its notification arrives.
            self.storage.delete([key])
        return outcome[0] if outcome else job
