"""The blob store the configuration describes (`storage`), for every process that uses it."""

from __future__ import annotations

from shared.blobstore.factory import create_blob_store
from shared.blobstore.interface import BlobStore
from shared.config import Settings


def blob_store_from_settings(settings: Settings) -> BlobStore:
    storage = settings.storage
    if storage.backend == "s3":
        s3 = storage.s3
        assert s3.bucket is not None  # the configuration refuses s3 without a bucket
        return create_blob_store(
            "s3",
            bucket=s3.bucket,
            region=s3.region,
            endpoint_url=str(s3.endpoint_url) if s3.endpoint_url else None,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
            prefix=s3.prefix,
        )
    return create_blob_store("filesystem", root=settings.blob_root)
