"""Build a blob store from configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

from shared.blobstore.filesystem import FilesystemBlobStore
from shared.blobstore.interface import BlobStore
from shared.blobstore.s3 import S3BlobStore

BlobStoreKind = Literal["filesystem", "s3"]


@overload
def create_blob_store(kind: Literal["filesystem"], *, root: Path | str) -> BlobStore: ...


@overload
def create_blob_store(
    kind: Literal["s3"],
    *,
    bucket: str,
    region: str,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    prefix: str = "",
) -> BlobStore: ...


def create_blob_store(
    kind: BlobStoreKind,
    *,
    root: Path | str | None = None,
    bucket: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    prefix: str | None = None,
) -> BlobStore:
    """Return the blob store of `kind`, configured by the arguments that kind uses.

    The overloads let a type checker reject a missing or foreign argument; the checks below
    do the same at runtime for values that come from untyped configuration.
    """
    if kind == "filesystem":
        _reject_foreign(
            kind,
            bucket=bucket,
            region=region,
            endpoint_url=endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            prefix=prefix,
        )
        if root is None:
            raise ValueError("a filesystem blob store needs root")
        return FilesystemBlobStore(Path(root))
    if kind == "s3":
        _reject_foreign(kind, root=root)
        if bucket is None or region is None:
            raise ValueError("an s3 blob store needs bucket and region")
        return S3BlobStore(
            bucket,
            region=region,
            endpoint_url=endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            prefix=prefix or "",
        )
    raise ValueError(f"unknown blob store kind: {kind!r}")


def _reject_foreign(kind: str, **settings: object) -> None:
    # A setting meant for the other backend is almost always a configuration mistake
    # (e.g. kind left at its default); failing beats silently ignoring it.
    foreign = sorted(name for name, value in settings.items() if value is not None)
    if foreign:
        raise ValueError(f"{kind} blob store does not take: {', '.join(foreign)}")
