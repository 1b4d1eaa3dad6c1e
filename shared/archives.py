"""Safe inspection of uploaded archives: zip (wheels; later Go module zips and Maven jars) and tar,
plain or gzip/bzip2/xz compressed (sdists, npm tarballs; later .crate files).

Nothing is extracted to disk: the archive is read from a local file object once, every member is
decompressed into a counter (and kept only when the caller asks for it), and the archive is refused
(`UnsafeArchive`, code `unsafe_archive`, naming the member) for anything an installer could be led
astray by: absolute paths, `..` components, backslashes and drive letters, control characters, links
(symbolic or hard), devices and FIFOs, encrypted or overlapping zip members, duplicate names after
normalisation, too many members, and bombs. Sizes are measured while decompressing; declared sizes
only allow an early refusal, never an acceptance (a zip header can lie). A corrupt or truncated
archive is an `InvalidArchive` (code `invalid_archive`), never another exception.

Nested archives are members like any other: their compressed bytes are counted, they are never
opened, so a bomb inside a wheel costs only its own size.

Only the standard library is used: `zipfile` and `tarfile` already parse the formats (and check
CRCs, local vs central zip names); what a registry needs on top — byte budgets while decompressing
and refusals instead of extraction — is a thin layer no library provides without extracting to disk.
`tarfile.data_filter` (Python 3.11.4+) is not applied: it decides per member against a destination
directory resolved on the filesystem and lets relative links through; the rules here are stricter
and work on names alone (the tests check every accepted tar also passes the data filter).
"""

from __future__ import annotations

import bz2
import copy
import gzip
import itertools
import lzma
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Literal, Protocol, cast

from shared.refusals import Refusal

__all__ = [
    "DEFAULT_LIMITS",
    "RATIO_GRACE_BYTES",
    "ArchiveKind",
    "ArchiveLimits",
    "ArchiveListing",
    "ArchiveMember",
    "InvalidArchive",
    "MissingMember",
    "UnsafeArchive",
    "inspect_archive",
    "inspect_tar",
    "inspect_zip",
    "normalize_member_name",
    "read_member",
]

_MIB = 1024 * 1024
_CHUNK = 64 * 1024

# The compression ratio is judged only past this many uncompressed bytes (per zip member; per
# compressed stream for tar): small, very regular files (an empty `__init__.py` stored with deflate,
# a tar's header blocks) reach high ratios legitimately, and below 1 MiB nothing can amplify.
# Apache POI's ZipSecureFile uses the same scheme (100:1 past a grace size).
RATIO_GRACE_BYTES = 1 * _MIB


class UnsafeArchive(Refusal):
    """The archive is readable but holds something an installer must not be given."""

    def __init__(self, message: str) -> None:
        super().__init__("unsafe_archive", message)


class InvalidArchive(Refusal):
    """The bytes are not a readable archive of the expected kind (corrupt, truncated, unsupported)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_archive", message)


class MissingMember(Refusal):
    """The archive is fine but lacks the member asked for (e.g. `package/package.json`)."""

    def __init__(self, message: str) -> None:
        super().__init__("missing_member", message)


class ArchiveKind(StrEnum):
    ZIP = "zip"
    TAR = "tar"  # plain, gzip, bzip2 or xz: the compression is recognised from the bytes


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds on one archive. The defaults fit the largest ordinary packages with headroom; a
    deployment sets its own from configuration (`registry.archive_limits`).

    - `max_members` 50 000: the biggest common wheels (plotly, botocore) hold 15-20 k files, npm
      tarballs far fewer; every member costs a listing row and a decompression.
    - `max_total_uncompressed` 1 GiB: ten times PyPI's default 100 MB upload cap, so a full-size
      upload may expand 10:1 (what code and data usually compress to) before it is refused.
    - `max_ratio` 100: source and binaries compress 2-15:1, repetitive data rarely past 50:1, while
      deflate's best is ~1032:1 — a bomb sits an order of magnitude above the limit.
    - `max_member_bytes` 512 MiB: one file (a large shared library) may be big, not the whole budget.
    """

    max_members: int = 50_000
    max_total_uncompressed: int = 1024 * _MIB
    max_ratio: float = 100.0
    max_member_bytes: int = 512 * _MIB


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    """One member as measured: `name` normalised (no `./`, no trailing `/`), `size` the bytes it
    actually decompressed to, `compressed_size` its bytes in a zip (None in a tar, compressed whole)."""

    name: str
    size: int
    kind: Literal["file", "dir"]
    compressed_size: int | None = None


@dataclass(frozen=True, slots=True)
class ArchiveListing:
    """What an archive holds, measured; `captured` has the bytes of the members the caller asked for."""

    kind: ArchiveKind
    compression: str  # "zip", "none", "gzip", "bzip2" or "xz"
    members: tuple[ArchiveMember, ...]
    compressed_size: int
    total_uncompressed: int
    captured: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def files(self) -> list[ArchiveMember]:
        return [m for m in self.members if m.kind == "file"]

    def get(self, name: str) -> ArchiveMember | None:
        wanted = normalize_member_name(name)
        return next((m for m in self.members if m.name == wanted), None)


Capture = Callable[[str], bool]


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


# Exceptions the standard library's readers raise on bytes that are not a valid archive. Caught
# only around parsing, and turned into InvalidArchive; our own refusals pass through untouched.
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
    EOFError,
    OSError,
    ValueError,  # includes UnicodeDecodeError
    NotImplementedError,  # unsupported zip compression method or version
    struct.error,
    OverflowError,
)


def normalize_member_name(name: str) -> str:
    """The comparable form of a member name: NFC, no `./` segments, no empty segments, no trailing `/`.
    Does not judge safety: `_check_name` refuses what must not be there before this is trusted."""
    parts = [p for p in unicodedata.normalize("NFC", name).split("/") if p not in ("", ".")]
    return "/".join(parts)


def _check_name(raw: str) -> str:
    """Refuses a name an extractor could resolve outside its destination or confuse; returns the
    normalised name ('' for the archive's root directory entry `./`)."""
    shown = repr(raw)
    if not raw:
        raise UnsafeArchive("a member has an empty name")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeArchive(f"member {shown}: name is not valid UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise UnsafeArchive(f"member {shown}: control character in name")
    if "\\" in raw:
        raise UnsafeArchive(f"member {shown}: backslash in name")
    if raw.startswith("/"):
        raise UnsafeArchive(f"member {shown}: absolute path")
    if len(raw) >= 2 and raw[1] == ":" and raw[0].isascii() and raw[0].isalpha():
        raise UnsafeArchive(f"member {shown}: drive letter")
    if any(part == ".." for part in raw.split("/")):
        raise UnsafeArchive(f"member {shown}: '..' path component")
    return normalize_member_name(raw)


class _Budget:
    """Counts members and the bytes decompressed across the whole archive; refuses past the limits."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.total = 0
        self.members = 0
        self.seen: set[str] = set()
        self.files: set[str] = set()
        self.parents: set[str] = set()

    def add_member(self, name: str, kind: Literal["file", "dir"]) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnsafeArchive(f"more than {self.limits.max_members} members (at member {name!r})")
        if name in self.seen:
            raise UnsafeArchive(f"member {name!r}: duplicate name")
        self.seen.add(name)
        # A file's name must not be another member's directory: extractors disagree on which wins.
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in self.files:
                raise UnsafeArchive(f"member {name!r}: its parent {parent!r} is a file")
            self.parents.add(parent)
        if kind == "file":
            if name in self.parents:
                raise UnsafeArchive(f"member {name!r}: a file where other members have their directory")
            self.files.add(name)

    def add_bytes(self, name: str, count: int) -> None:
        self.total += count
        if self.total > self.limits.max_total_uncompressed:
            raise UnsafeArchive(
                f"member {name!r}: archive expands past {self.limits.max_total_uncompressed} bytes"
            )


def _check_ratio(name: str, uncompressed: int, compressed: int, limits: ArchiveLimits, what: str) -> None:
    if uncompressed > RATIO_GRACE_BYTES and uncompressed > limits.max_ratio * max(compressed, 1):
        raise UnsafeArchive(
            f"member {name!r}: {what} expands more than {limits.max_ratio:g}:1 (compression bomb)"
        )


def _read_counted(
    reader: _Readable,
    name: str,
    budget: _Budget | None,
    limits: ArchiveLimits,
    *,
    keep: bool,
    keep_limit: int,
    compressed: int | None = None,
) -> tuple[int, bytes | None]:
    """Reads one member to its end in chunks, counting (against `budget` when the bytes are not
    counted elsewhere; against `compressed` for the member's own ratio); returns its size and, if
    kept, its bytes."""
    size = 0
    kept: list[bytes] = []
    while chunk := reader.read(_CHUNK):
        size += len(chunk)
        if size > limits.max_member_bytes:
            raise UnsafeArchive(f"member {name!r}: larger than {limits.max_member_bytes} bytes")
        if budget is not None:
            budget.add_bytes(name, len(chunk))
        if compressed is not None:
            _check_ratio(name, size, compressed, limits, "member")
        if keep:
            if size > keep_limit:
                raise UnsafeArchive(f"member {name!r}: larger than {keep_limit} bytes, too big to read")
            kept.append(chunk)
    return size, (b"".join(kept) if keep else None)


# --- zip ------------------------------------------------------------------------------------------


def _zip_kind(info: zipfile.ZipInfo, name: str) -> Literal["file", "dir"]:
    # Unix zips keep st_mode in the high bytes; many writers (zipfile's writestr among them) leave
    # the file-type bits 0, which means a regular file.
    file_type = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if file_type == stat.S_IFLNK:
        raise UnsafeArchive(f"member {name!r}: symbolic link")
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchive(f"member {name!r}: special file (device, FIFO or socket)")
    return "dir" if info.is_dir() else "file"


def _inspect_zip(
    fileobj: IO[bytes], limits: ArchiveLimits, capture: Capture | None, capture_limit: int
) -> ArchiveListing:
    start = fileobj.tell()
    archive_size = fileobj.seek(0, 2) - start
    fileobj.seek(start)
    budget = _Budget(limits)
    with zipfile.ZipFile(fileobj) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise UnsafeArchive(f"more than {limits.max_members} members ({len(infos)})")
        # Declared sizes may lie low, so they only allow refusing early; the real check is below.
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_total_uncompressed:
            raise UnsafeArchive(f"declared sizes total {declared} bytes, past the limit")
        _refuse_overlaps(infos)
        members: list[ArchiveMember] = []
        captured: dict[str, bytes] = {}
        for info in infos:
            name = _check_name(info.filename)
            if not name:
                continue
            kind = _zip_kind(info, name)
            budget.add_member(name, kind)
            if info.flag_bits & 0x1:
                raise UnsafeArchive(f"member {name!r}: encrypted")
            if info.file_size > limits.max_member_bytes:
                raise UnsafeArchive(f"member {name!r}: declares more than {limits.max_member_bytes} bytes")
            keep = kind == "file" and capture is not None and capture(name)
            # zipfile stops a member at its declared size, so a header that lies low would hide what
            # the compressed data really expands to (and what another unzip tool would write). Read
            # through a copy declaring the most we accept: the data's own end (and its CRC) decides.
            unbounded = copy.copy(info)
            # Past max_member_bytes by more than one read, so our refusal comes before zipfile's end.
            unbounded.file_size = limits.max_member_bytes + 2 * _CHUNK
            with zf.open(unbounded) as reader:
                size, data = _read_counted(
                    reader,
                    name,
                    budget,
                    limits,
                    keep=keep,
                    keep_limit=capture_limit,
                    compressed=info.compress_size,
                )
            if size != info.file_size:
                raise UnsafeArchive(
                    f"member {name!r}: decompresses to {size} bytes, its header says {info.file_size}"
                )
            if kind == "dir" and size:
                raise InvalidArchive(f"member {name!r}: a directory with content")
            if data is not None:
                captured[name] = data
            members.append(ArchiveMember(name, size, kind, info.compress_size))
    _check_ratio("(whole archive)", budget.total, archive_size, limits, "the archive")
    return ArchiveListing(ArchiveKind.ZIP, "zip", tuple(members), archive_size, budget.total, captured)


def _refuse_overlaps(infos: list[zipfile.ZipInfo]) -> None:
    """Members whose compressed data overlap (the non-recursive zip bomb) share bytes: refused, even
    on Pythons whose zipfile does not check it yet."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for before, after in itertools.pairwise(ordered):
        if after.header_offset < before.header_offset + 30 + before.compress_size:
            raise UnsafeArchive(f"member {after.filename!r}: overlaps member {before.filename!r}")


# --- tar ------------------------------------------------------------------------------------------


class _CountingReader:
    """The raw (compressed) bytes read so far, for the ratio."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


class _BudgetedStream:
    """The decompressed tar stream as tarfile's stream mode reads it: every byte (headers, data,
    padding) counted against the archive's budget and the ratio to the compressed bytes read."""

    def __init__(
        self, decompressed: _Readable, raw: _CountingReader, budget: _Budget, limits: ArchiveLimits
    ) -> None:
        self.decompressed = decompressed
        self.raw = raw
        self.budget = budget
        self.limits = limits
        self.current = "(archive header)"

    def read(self, size: int = -1) -> bytes:
        data = self.decompressed.read(size if size >= 0 else _CHUNK)
        self.budget.add_bytes(self.current, len(data))
        _check_ratio(self.current, self.budget.total, self.raw.count, self.limits, "the tar stream")
        return data

    def close(self) -> None:
        pass


def _as_io(reader: _Readable) -> IO[bytes]:
    # The decompressors and tarfile's stream mode only ever call read() on what they are given.
    return cast("IO[bytes]", reader)


def _open_decompressed(raw: _CountingReader, head: bytes) -> tuple[_Readable, str]:
    """The decompressing reader for the compression the first bytes announce. Each reads at most
    the size asked for per call (bounded output per step), however much the input expands."""
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=_as_io(raw), mode="rb"), "gzip"
    if head.startswith(b"BZh"):
        return bz2.BZ2File(_as_io(raw), mode="rb"), "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(_as_io(raw), mode="rb"), "xz"
    return raw, "none"


def _tar_kind(member: tarfile.TarInfo, name: str) -> Literal["file", "dir"]:
    if member.issym():
        raise UnsafeArchive(f"member {name!r}: symbolic link to {member.linkname!r}")
    if member.islnk():
        raise UnsafeArchive(f"member {name!r}: hard link to {member.linkname!r}")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeArchive(f"member {name!r}: special file (device or FIFO)")
    if member.isdir():
        return "dir"
    if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
        return "file"
    raise UnsafeArchive(f"member {name!r}: unsupported member type {member.type!r}")


def _inspect_tar(
    fileobj: IO[bytes], limits: ArchiveLimits, capture: Capture | None, capture_limit: int
) -> ArchiveListing:
    start = fileobj.tell()
    head = fileobj.read(6)
    fileobj.seek(start)
    raw = _CountingReader(fileobj)
    decompressed, compression = _open_decompressed(raw, head)
    budget = _Budget(limits)
    stream = _BudgetedStream(decompressed, raw, budget, limits)
    members: list[ArchiveMember] = []
    captured: dict[str, bytes] = {}
    # Stream mode ("r|") reads strictly forward, so every byte passes through the budget, and member
    # data is read (not seeked over) so a truncated member is noticed.
    with tarfile.open(fileobj=_as_io(stream), mode="r|") as tf:
        for member in tf:
            name = _check_name(member.name)
            stream.current = name or member.name
            kind = _tar_kind(member, name)
            if not name:
                if kind == "dir":
                    continue
                raise UnsafeArchive(f"member {member.name!r}: a file named like the root directory")
            budget.add_member(name, kind)
            if member.size > limits.max_member_bytes:
                raise UnsafeArchive(f"member {name!r}: larger than {limits.max_member_bytes} bytes")
            size = 0
            if kind == "file":
                reader = tf.extractfile(member)
                if reader is None:  # pragma: no cover - regular files always have a reader
                    raise InvalidArchive(f"member {name!r}: unreadable")
                keep = capture is not None and capture(name)
                # The stream already counts these bytes against the archive's budget and ratio.
                size, data = _read_counted(reader, name, None, limits, keep=keep, keep_limit=capture_limit)
                if size != member.size:
                    raise InvalidArchive(f"member {name!r}: truncated ({size} of {member.size} bytes)")
                if data is not None:
                    captured[name] = data
            members.append(ArchiveMember(name, size, kind))
    return ArchiveListing(ArchiveKind.TAR, compression, tuple(members), raw.count, budget.total, captured)


# --- public ---------------------------------------------------------------------------------------


def inspect_archive(
    fileobj: IO[bytes],
    kind: ArchiveKind | str,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    *,
    capture: Capture | None = None,
    capture_limit: int | None = None,
) -> ArchiveListing:
    """Reads the whole archive from `fileobj` (seekable, at the archive's start), refusing it if
    unsafe; the bytes of each file member for which `capture(normalised_name)` is true are kept in
    `captured` (each at most `capture_limit` bytes, by default `limits.max_member_bytes`)."""
    kind = ArchiveKind(kind)
    bound = limits.max_member_bytes if capture_limit is None else capture_limit
    try:
        if kind is ArchiveKind.ZIP:
            return _inspect_zip(fileobj, limits, capture, bound)
        return _inspect_tar(fileobj, limits, capture, bound)
    except Refusal:
        raise
    except _CORRUPT as exc:
        raise InvalidArchive(f"not a readable {kind.value} archive: {exc}") from exc


def inspect_zip(fileobj: IO[bytes], limits: ArchiveLimits = DEFAULT_LIMITS) -> ArchiveListing:
    """Lists and measures a zip archive (wheel, Go module zip, jar); see `inspect_archive`."""
    return inspect_archive(fileobj, ArchiveKind.ZIP, limits)


def inspect_tar(fileobj: IO[bytes], limits: ArchiveLimits = DEFAULT_LIMITS) -> ArchiveListing:
    """Lists and measures a tar archive, plain or compressed (sdist, npm tarball, crate)."""
    return inspect_archive(fileobj, ArchiveKind.TAR, limits)


def read_member(
    fileobj: IO[bytes],
    archive_kind: ArchiveKind | str,
    member_name: str,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    *,
    max_bytes: int | None = None,
) -> bytes:
    """The bytes of one file member, read during a full safe inspection (so a duplicate later in the
    archive or an unsafe neighbour still refuses it); at most `max_bytes` (default
    `limits.max_member_bytes`). `MissingMember` if no file member has that (normalised) name."""
    wanted = normalize_member_name(member_name)
    listing = inspect_archive(
        fileobj, archive_kind, limits, capture=lambda name: name == wanted, capture_limit=max_bytes
    )
    if wanted not in listing.captured:
        raise MissingMember(f"the archive has no file {member_name!r}")
    return listing.captured[wanted]
