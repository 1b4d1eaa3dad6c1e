"""Content-addressed blob storage: blobs are stored and fetched by the SHA-256 of their content.

Owned by the ArtifactManagerAgent.
"""

from services.blobstore.factory import BlobStoreKind, create_blob_store
from services.blobstore.filesystem import FilesystemBlobStore
from services.blobstore.interface import (
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreError,
    DigestMismatch,
    InvalidDigest,
    SizeMismatch,
    validate_digest,
)
from services.blobstore.s3 import S3BlobStore

__all__ = [
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "BlobStoreError",
    "BlobStoreKind",
    "DigestMismatch",
    "FilesystemBlobStore",
    "InvalidDigest",
    "S3BlobStore",
    "SizeMismatch",
    "create_blob_store",
    "validate_digest",
]
