"""The OSV files inside what an import is handed: a directory, a tar archive (`.tar.gz`, `.tgz`,
`.tar`) or a zip (the format of the OSV and GitHub database exports). Reads, never writes.

Only `.json`, `.yaml` and `.yml` members are records; LICENSE, README and the like are skipped.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

OSV_SUFFIXES = (".json", ".yaml", ".yml")


def osv_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name inside the source, content) of every OSV file, in a stable order."""
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(OSV_SUFFIXES)):
            yield str(file.relative_to(path)), file.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if not info.is_dir() and info.filename.endswith(OSV_SUFFIXES):
                    yield info.filename, archive.read(info)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(OSV_SUFFIXES):
                    extracted = archive.extractfile(member)
                    assert extracted is not None  # a regular file always extracts
                    yield member.name, extracted.read()
    else:
        raise ValueError(f"{path}: not a directory, a tar archive or a zip of OSV files")
