"""twine's `file_upload` request (the legacy upload API PyPI serves), checked against the file.

The edge forwards the form's protocol fields (`PythonUploadFields`); the metadata fields twine also
sends are ignored: like PyPI, the registry reads metadata from the distribution itself, so a form
cannot describe a file as something it is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from services.registry.ecosystems.interface import DigestMismatch, FilenameMismatch, InvalidUpload
from services.registry.python.metadata import DistFilename
from shared.messages.artifacts import PythonUploadFields

FILETYPES = {"bdist_wheel": "wheel", "sdist": "sdist"}
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True, slots=True)
class FileDigests:
    """What the registry computed over the stored bytes."""

    sha256: str
    md5: str
    blake2_256: str


def check_form(fields: PythonUploadFields, dist: DistFilename, filename: str) -> None:
    """The request is a protocol-1 `file_upload` whose name, version and file type are the file's."""
    if fields.action != "file_upload":
        raise InvalidUpload(f":action {fields.action!r} is not supported (only file_upload)")
    if fields.protocol_version not in (None, "1"):
        raise InvalidUpload(f"protocol_version {fields.protocol_version!r} is not supported (only 1)")
    kind = FILETYPES.get(fields.filetype)
    if kind is None:
        raise InvalidUpload(f"filetype {fields.filetype!r} is not supported (bdist_wheel or sdist)")
    if kind != dist.kind:
        raise FilenameMismatch(f"filetype {fields.filetype} does not fit {filename} (a {dist.kind})")
    if str(canonicalize_name(fields.name)) != dist.name:
        raise FilenameMismatch(f"the form names project {fields.name}, the file {filename} is {dist.name}")
    try:
        version = Version(fields.version)
    except InvalidVersion:
        raise InvalidUpload(f"the form's version {fields.version!r} is not a PEP 440 version") from None
    if version != dist.version:
        raise FilenameMismatch(
            f"the form names version {fields.version}, the file {filename} is {dist.version}"
        )


def check_digests(fields: PythonUploadFields, computed: FileDigests) -> None:
    """Every digest the client sent must be that of the bytes received (any of them may be absent:
    twine omits blake2 under FIPS, and newer twines omit md5)."""
    sent = {
        "sha256": fields.sha256_digest,
        "md5": fields.md5_digest,
        "blake2_256": fields.blake2_256_digest,
    }
    actual = {"sha256": computed.sha256, "md5": computed.md5, "blake2_256": computed.blake2_256}
    for algorithm, value in sent.items():
        if value is None or value == "":
            continue
        given = value.strip().lower()
        if not _HEX.match(given) or given != actual[algorithm]:
            raise DigestMismatch(
                f"the {algorithm} digest sent ({value}) is not that of the bytes received "
                f"({actual[algorithm]})"
            )
