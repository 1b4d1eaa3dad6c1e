"""Registry meshes of their own for tests that need another blob backend than the session mesh's."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from shared.messages.agents import AgentName
from tests.fixtures.mesh import Mesh, MeshLauncher
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.stack import scratch_dir, start_nats


@contextmanager
def s3_registry_mesh(workdir: Path, postgres_dsn: str, s3_endpoint: S3Endpoint) -> Iterator[Mesh]:
    """The edge and the ArtifactManagerAgent with blobs in a new bucket of moto's S3 (other agents are not
    needed), on a NATS server of their own: the session mesh's ArtifactManagerAgent (blobs on its
    filesystem) would otherwise share their requests."""
    bucket = f"registry-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint.endpoint_url,
        region_name=s3_endpoint.region,
        aws_access_key_id=s3_endpoint.access_key_id,
        aws_secret_access_key=s3_endpoint.secret_access_key,
    ).create_bucket(Bucket=bucket)
    storage = {
        "backend": "s3",
        "s3": {
            "bucket": bucket,
            "endpoint_url": s3_endpoint.endpoint_url,
            "region": s3_endpoint.region,
            "access_key_id": s3_endpoint.access_key_id,
            "secret_access_key": s3_endpoint.secret_access_key,
        },
    }
    with scratch_dir("mno-nats-s3-") as nats_dir:
        nats = start_nats(nats_dir)
        launcher = MeshLauncher(workdir, nats.url, postgres_dsn, overrides={"storage": storage})
        try:
            agents = {a: launcher.start(a) for a in (AgentName.ARTIFACT_MANAGER, AgentName.SUPER_AGENT)}
            yield Mesh(launcher, agents)
        finally:
            launcher.stop_all()
            nats.stop()
            shutil.rmtree(launcher.workdir, ignore_errors=True)
