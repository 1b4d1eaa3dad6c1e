"""Content-addressed blob storage: blobs are stored and fetched by the SHA-256 of their content.

Shared because two processes use it: the edge streams package bytes in and out, and the
ArtifactManagerAgent reads them to inspect archives (bytes never cross NATS).
"""

from shared.blobstore.factory import BlobStoreKind, create_blob_store
from shared.blobstore.filesystem import FilesystemBlobStore
from shared.blobstore.interface import (
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreError,
    DigestMismatch,
    InvalidDigest,
    SizeMismatch,
    StoredBlob,
    validate_digest,
)
from shared.blobstore.s3 import S3BlobStore

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
    "StoredBlob",
    "create_blob_store",
    "validate_digest",
]
