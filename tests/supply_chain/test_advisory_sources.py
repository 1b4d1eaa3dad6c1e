"""Reading OSV files out of an advisory archive (`sources.osv_files`): the whole archive is inspected
under its limits before the first record comes out, so a bomb, a too-large archive or an unsafe member
refuses the archive whole, naming what it passed; ordinary exports read as before."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from services.supply_chain.sources import ArchiveRefused, osv_files
from shared.archives import ArchiveLimits

RECORD = json.dumps({"id": "OSV-1", "modified": "2024-01-01T00:00:00Z"}).encode()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            content = data.get(member.name)
            if content is not None:
                member.size = len(content)
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
    return path


def symlink(name: str, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.SYMTYPE
    member.linkname = target
    return member


def test_records_come_out_sorted_and_other_files_are_skipped(tmp_path: Path) -> None:
    """JSON and YAML members come out by name; LICENSE, README and directories do not."""
    path = write_zip(
        tmp_path / "osv.zip", {"b/OSV-2.yaml": b"id: OSV-2", "LICENSE": b"CC-BY", "a/OSV-1.json": RECORD}
    )
    assert [name for name, _ in osv_files(path)] == ["a/OSV-1.json", "b/OSV-2.yaml"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_expanding_past_the_total_limit_is_refused_before_any_record(
    tmp_path: Path, kind: str
) -> None:
    """Members whose bytes add up past `max_total_uncompressed` (incompressible, so no ratio trips first;
    a zip on its declared sizes, a tar.gz as it decompresses) refuse the archive with the limits named,
    and no record is handed out, not even the first one."""
    members = {"osv/OSV-1.json": RECORD, "osv/a.json": os.urandom(40_000), "osv/b.json": os.urandom(40_000)}
    if kind == "zip":
        path = write_zip(tmp_path / "big.zip", members)
    else:
        path = write_tar(tmp_path / "big.tar.gz", [tarfile.TarInfo(name) for name in members], members)
    limits = ArchiveLimits(max_total_uncompressed=65_536, max_member_bytes=1 << 20)
    files = osv_files(path, limits)
    with pytest.raises(
        ArchiveRefused, match=r"past (the limit|65536 bytes) \(at most 65536 bytes decompressed"
    ) as refused:
        next(files)
    assert refused.value.kind == "unsafe_archive"


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tarfile.TarInfo("../escape.json"), "'..' path component"),
        (tarfile.TarInfo("/etc/osv.json"), "absolute path"),
        (symlink("osv/link.json", "/etc/passwd"), "symbolic link"),
    ],
    ids=["dot-dot", "absolute", "symlink"],
)
def test_unsafe_members_refuse_the_archive(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    """A `..` or absolute path, or a link, is no OSV export: the archive is refused as unsafe."""
    members = [tarfile.TarInfo("osv/OSV-1.json"), member]
    path = write_tar(tmp_path / "bad.tar.gz", members, {"osv/OSV-1.json": RECORD, member.name: RECORD})
    with pytest.raises(ArchiveRefused, match=message) as refused:
        list(osv_files(path))
    assert refused.value.kind == "unsafe_archive"


def test_a_truncated_archive_is_invalid_not_unsafe(tmp_path: Path) -> None:
    """A tar.gz cut short is `invalid_archive` (corrupt), told apart from an unsafe one."""
    whole = write_tar(
        tmp_path / "whole.tar.gz", [tarfile.TarInfo("osv/OSV-1.json")], {"osv/OSV-1.json": RECORD * 200}
    )
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(ArchiveRefused) as refused:
        list(osv_files(cut))
    assert refused.value.kind == "invalid_archive"
