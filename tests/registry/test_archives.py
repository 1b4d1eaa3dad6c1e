"""Safe archive inspection (services/registry/archives.py) on real archives built in memory: good
wheels/sdists/npm tarballs pass and are measured; each malicious shape is refused with a reason
naming the member; arbitrary or damaged bytes give only RegistryError."""

from __future__ import annotations

import bz2
import contextlib
import io
import lzma
import stat
import struct
import tarfile
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.registry.errors import RegistryError
from shared.archives import (
    DEFAULT_LIMITS,
    ArchiveKind,
    ArchiveLimits,
    InvalidArchive,
    MissingMember,
    UnsafeArchive,
    inspect_archive,
    inspect_tar,
    inspect_zip,
    read_member,
)

MIB = 1024 * 1024
# Only the size limits in play: the ratio limit is lifted so the test proves the size check alone.
SIZE_ONLY = ArchiveLimits(max_member_bytes=4 * MIB, max_total_uncompressed=8 * MIB, max_ratio=1e9)


# --- builders -------------------------------------------------------------------------------------


def make_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for entry in entries:
            if isinstance(entry, tuple):
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tf.addfile(info, io.BytesIO(entry[1]))
            else:
                tf.addfile(entry)
    return buf.getvalue()


def tar_entry(name: str, type_: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.linkname = linkname
    return info


@dataclass
class RawEntry:
    """A zip member written byte by byte, so headers can say what zipfile would never write."""

    name: str
    data: bytes
    declared_size: int | None = None  # the uncompressed size the headers claim
    crc: int | None = None
    flags: int = 0
    mode: int = 0o100644


def raw_zip(entries: list[RawEntry], aliases: dict[str, int] | None = None) -> bytes:
    """A zip whose central directory may also hold `aliases`: extra names pointing at entry i's data."""
    out = bytearray()
    central = bytearray()
    records: list[tuple[RawEntry, int, bytes, int]] = []
    for entry in entries:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        compressed = packer.compress(entry.data) + packer.flush()
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.declared_size is None else entry.declared_size
        offset = len(out)
        name = entry.name.encode()
        flags = entry.flags | (0x800 if not entry.name.isascii() else 0)  # 0x800: the name is UTF-8
        out += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, 8, 0, 0x21, crc, len(compressed), size, len(name), 0
        )
        out += name + compressed
        records.append((entry, offset, compressed, crc))
    named = [(e.name, i) for i, e in enumerate(entries)] + list((aliases or {}).items())
    for alias, index in named:
        entry, offset, compressed, crc = records[index]
        size = len(entry.data) if entry.declared_size is None else entry.declared_size
        name = alias.encode()
        flags = entry.flags | (0x800 if not alias.isascii() else 0)
        central += struct.pack(
            "<4s4B4HL2L5H2L",
            b"PK\x01\x02",
            20,
            3,
            20,
            0,
            flags,
            8,
            0,
            0x21,
            crc,
            len(compressed),
            size,
            len(name),
            0,
            0,
            0,
            0,
            entry.mode << 16,
            offset,
        )
        central += name
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(named), len(named), len(central), len(out), 0)
    return bytes(out + central + eocd)


def wheel() -> bytes:
    return make_zip(
        {
            "demo/__init__.py": b"__version__ = '1.0'\n",
            "demo/core.py": b"def f(x):\n    return x * 2\n" * 40,
            "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
            "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
            "demo-1.0.dist-info/RECORD": b"",
        }
    )


def npm_tarball(mode: str = "w:gz") -> bytes:
    return make_tar(
        [
            tar_entry("package", tarfile.DIRTYPE),
            ("package/package.json", b'{"name": "demo", "version": "1.0.0"}'),
            ("package/index.js", b"module.exports = 1;\n"),
            ("package/lib/util.js", b"exports.x = 2;\n" * 30),
        ],
        mode,
    )


def zeros_zip(size: int, name: str = "bomb.bin") -> bytes:
    return make_zip({name: b"\0" * size})


def refused(data: bytes, kind: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> UnsafeArchive:
    with pytest.raises(UnsafeArchive) as caught:
        inspect_archive(io.BytesIO(data), kind, limits)
    assert caught.value.code == "unsafe_archive"
    return caught.value


# --- good archives --------------------------------------------------------------------------------


def test_a_wheel_is_listed_with_its_measured_sizes() -> None:
    """A well-formed wheel passes; every member is listed with the bytes it decompressed to."""
    listing = inspect_zip(io.BytesIO(wheel()))
    assert listing.kind is ArchiveKind.ZIP
    assert set(listing.names) == {
        "demo/__init__.py",
        "demo/core.py",
        "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/WHEEL",
        "demo-1.0.dist-info/RECORD",
    }
    core = listing.get("demo/core.py")
    assert core is not None
    assert core.size == len(b"def f(x):\n    return x * 2\n") * 40
    assert core.kind == "file"
    assert listing.total_uncompressed == sum(m.size for m in listing.members)


@pytest.mark.parametrize(
    ("mode", "compression"), [("w:gz", "gzip"), ("w", "none"), ("w:bz2", "bzip2"), ("w:xz", "xz")]
)
def test_an_npm_tarball_is_listed_whatever_its_compression(mode: str, compression: str) -> None:
    """Tarballs plain or gzip/bzip2/xz compressed are recognised from their bytes and listed."""
    listing = inspect_tar(io.BytesIO(npm_tarball(mode)))
    assert listing.compression == compression
    assert [(m.name, m.kind) for m in listing.members] == [
        ("package", "dir"),
        ("package/package.json", "file"),
        ("package/index.js", "file"),
        ("package/lib/util.js", "file"),
    ]
    assert listing.get("package/lib/util.js").size == 15 * 30  # type: ignore[union-attr]


def test_read_member_returns_the_bytes_of_one_member() -> None:
    """read_member gives a member's content from a zip and a tar, by normalised name."""
    assert read_member(io.BytesIO(npm_tarball()), "tar", "./package/package.json").startswith(b'{"name"')
    assert read_member(io.BytesIO(wheel()), ArchiveKind.ZIP, "demo-1.0.dist-info/WHEEL") == (
        b"Wheel-Version: 1.0\n"
    )


def test_read_member_of_an_absent_member_is_missing_member() -> None:
    """A member that is not there is a MissingMember (code missing_member), not a crash."""
    with pytest.raises(MissingMember) as caught:
        read_member(io.BytesIO(npm_tarball()), "tar", "package/nope.json")
    assert caught.value.code == "missing_member"


def test_read_member_is_bounded() -> None:
    """A member past `max_bytes` is refused instead of being read into memory."""
    with pytest.raises(UnsafeArchive, match=r"package/lib/util\.js"):
        read_member(io.BytesIO(npm_tarball()), "tar", "package/lib/util.js", max_bytes=100)


def test_read_member_still_checks_the_whole_archive() -> None:
    """A duplicate of the wanted member later in the archive refuses it (no first-match shortcut)."""
    data = make_tar([("package/package.json", b"{}"), ("package/package.json", b'{"evil": 1}')])
    with pytest.raises(UnsafeArchive, match="duplicate"):
        read_member(io.BytesIO(data), "tar", "package/package.json")


def test_every_accepted_tar_also_passes_tarfiles_data_filter(tmp_path: Path) -> None:
    """What we accept, Python's own `data` extraction filter accepts too (we are the stricter)."""
    for mode in ("w:gz", "w"):
        data = npm_tarball(mode)
        inspect_tar(io.BytesIO(data))
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            for member in tf.getmembers():
                tarfile.data_filter(member, str(tmp_path))


def test_a_nested_archive_is_not_followed() -> None:
    """A bomb zipped inside a wheel counts only its own compressed bytes: nested archives are never
    opened, so their amplification never happens."""
    inner = zeros_zip(50 * MIB)
    listing = inspect_zip(io.BytesIO(make_zip({"demo/data/inner.zip": inner}, zipfile.ZIP_STORED)))
    assert listing.get("demo/data/inner.zip").size == len(inner)  # type: ignore[union-attr]
    assert listing.total_uncompressed == len(inner) < MIB


# --- names ----------------------------------------------------------------------------------------

BAD_NAMES = [
    ("../evil.py", "'..'"),
    ("demo/../../evil.py", "'..'"),
    ("/etc/cron.d/evil", "absolute"),
    ("demo\\..\\..\\evil.py", "backslash"),
    ("C:/Windows/evil.dll", "drive letter"),
    ("demo/\x1b[31mred.py", "control character"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_a_zip_member_name_escaping_the_destination_is_refused(name: str, reason: str) -> None:
    """Traversal, absolute, backslash, drive-letter and control-character names in a zip are refused."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = make_zip({"demo/ok.py": b"", name: b"x"})
    error = refused(data, "zip")
    assert reason in error.message
    assert repr(name) in error.message


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
def test_a_tar_member_name_escaping_the_destination_is_refused(name: str, reason: str) -> None:
    """The same names in a tarball are refused, naming the member."""
    error = refused(make_tar([("package/ok.js", b""), (name, b"x")]), "tar")
    assert reason in error.message
    assert repr(name) in error.message


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("pkg/a.py", "pkg/a.py"),
        ("pkg/a.py", "./pkg/a.py"),
        ("pkg/a.py", "pkg//a.py"),
        (unicodedata.normalize("NFC", "pkg/café.py"), unicodedata.normalize("NFD", "pkg/café.py")),
    ],
)
def test_duplicate_names_after_normalisation_are_refused(kind: str, first: str, second: str) -> None:
    """Two members naming the same path (exactly, or after ./, // or Unicode normalisation) are refused:
    extractors disagree on which one wins."""
    if kind == "zip":
        data = raw_zip([RawEntry(first, b"1"), RawEntry(second, b"2")])
    else:
        data = make_tar([(first, b"1"), (second, b"2")])
    assert "duplicate" in refused(data, kind).message


def test_a_file_that_is_also_a_directory_is_refused() -> None:
    """A file `a` and a member `a/b` cannot both be extracted: refused whichever comes first."""
    assert "is a file" in refused(make_tar([("package/a", b"1"), ("package/a/b", b"2")]), "tar").message
    assert "directory" in refused(make_tar([("package/a/b", b"1"), ("package/a", b"2")]), "tar").message


# --- links and special files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (tar_entry("package/link", tarfile.SYMTYPE, "../../../etc/passwd"), "symbolic link"),
        (tar_entry("package/inside", tarfile.SYMTYPE, "index.js"), "symbolic link"),
        (tar_entry("package/hard", tarfile.LNKTYPE, "package/index.js"), "hard link"),
        (tar_entry("package/tty", tarfile.CHRTYPE), "special file"),
        (tar_entry("package/disk", tarfile.BLKTYPE), "special file"),
        (tar_entry("package/pipe", tarfile.FIFOTYPE), "special file"),
    ],
)
def test_tar_links_and_special_files_are_refused(entry: tarfile.TarInfo, reason: str) -> None:
    """Symlinks (even pointing inside), hard links, devices and FIFOs in a tarball are refused."""
    error = refused(make_tar([("package/index.js", b"1"), entry]), "tar")
    assert reason in error.message
    assert entry.name in error.message


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFCHR | 0o644, "special file"),
        (stat.S_IFIFO | 0o644, "special file"),
    ],
)
def test_zip_symlinks_and_special_files_are_refused(mode: int, reason: str) -> None:
    """A zip member whose Unix mode says symlink, device or FIFO is refused."""
    info = zipfile.ZipInfo("demo/link")
    info.create_system = 3
    info.external_attr = mode << 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    error = refused(buf.getvalue(), "zip")
    assert reason in error.message
    assert "demo/link" in error.message


def test_an_encrypted_zip_member_is_refused() -> None:
    """An encrypted member cannot be inspected, so the archive is refused."""
    assert "encrypted" in refused(raw_zip([RawEntry("demo/a.py", b"x", flags=1)]), "zip").message


def test_overlapping_zip_members_are_refused() -> None:
    """Two central-directory entries sharing one member's data (the overlapping zip bomb) are refused."""
    data = raw_zip([RawEntry("demo/a.bin", b"\0" * 1000)], aliases={"demo/b.bin": 0})
    assert "overlaps" in refused(data, "zip").message


# --- bombs and counts -----------------------------------------------------------------------------


def test_a_zip_bomb_with_a_lying_header_is_measured_not_trusted() -> None:
    """A member declaring 1000 bytes (CRC forged to match) that really expands to 20 MiB is refused
    by what decompressing it yields; zipfile alone would have returned the 1000 bytes quietly."""
    content = b"\0" * (20 * MIB)
    data = raw_zip([RawEntry("demo/bomb.bin", content, declared_size=1000, crc=zlib.crc32(content[:1000]))])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert len(zf.read("demo/bomb.bin")) == 1000  # the lie works on a naive reader
    error = refused(data, "zip", SIZE_ONLY)
    assert "demo/bomb.bin" in error.message
    assert "larger than" in error.message


def test_a_zip_header_understating_a_small_member_is_refused() -> None:
    """Within the limits, a member whose data expands to more than its header says is still refused."""
    data = raw_zip([RawEntry("demo/a.py", b"x" * 5000, declared_size=100)])
    assert "its header says 100" in refused(data, "zip").message


def test_a_zip_past_the_total_uncompressed_limit_is_refused() -> None:
    """Declared sizes that fit but data that does not: the measured total refuses the archive."""
    three = bytes(3 * MIB)
    data = raw_zip(
        [
            RawEntry("demo/0.bin", three),
            RawEntry("demo/1.bin", three),
            RawEntry("demo/2.bin", three, declared_size=1000),
        ]
    )
    error = refused(data, "zip", SIZE_ONLY)
    assert "expands past" in error.message
    assert "demo/2.bin" in error.message


def test_declared_zip_sizes_past_the_limit_are_refused_early() -> None:
    """Honest headers already past the total are refused before anything is decompressed."""
    data = make_zip({f"demo/{i}.bin": bytes(3 * MIB) for i in range(3)})
    assert "declared sizes" in refused(data, "zip", SIZE_ONLY).message


def test_a_tar_bomb_is_refused_while_decompressing() -> None:
    """A tar.gz expanding past `max_total_uncompressed` is refused (measured on the stream)."""
    data = make_tar(
        [
            ("package/a.bin", bytes(3 * MIB)),
            ("package/b.bin", bytes(3 * MIB)),
            ("package/c.bin", bytes(3 * MIB)),
        ]
    )
    error = refused(data, "tar", SIZE_ONLY)
    assert "expands past" in error.message
    assert "package/c.bin" in error.message


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_ratio_bomb_is_refused(kind: str) -> None:
    """A member compressing ~1000:1 (5 MiB of zeros) is refused by the ratio limit, far below the
    size limits."""
    data = zeros_zip(5 * MIB) if kind == "zip" else make_tar([("package/bomb.bin", bytes(5 * MIB))])
    assert len(data) < 64 * 1024
    error = refused(data, kind)
    assert "compression bomb" in error.message
    assert "bomb.bin" in error.message


def test_a_highly_compressible_small_member_is_accepted() -> None:
    """Below the ratio's grace size, a very regular file (half a MiB of zeros) is fine."""
    inspect_zip(io.BytesIO(zeros_zip(MIB // 2)))
    inspect_tar(io.BytesIO(make_tar([("package/zeros.bin", bytes(MIB // 2))])))


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_too_many_members_are_refused(kind: str) -> None:
    """An archive with more members than `max_members` is refused."""
    files = {f"pkg/{i}.txt": b"x" for i in range(4)}
    data = make_zip(files) if kind == "zip" else make_tar(list(files.items()))
    assert "more than 3 members" in refused(data, kind, ArchiveLimits(max_members=3)).message


def test_a_member_past_max_member_bytes_is_refused() -> None:
    """One member larger than `max_member_bytes` is refused even when the total fits."""
    data = make_tar([("package/big.bin", bytes(5 * MIB))])
    assert "package/big.bin" in refused(data, "tar", SIZE_ONLY).message


# --- corrupt bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (wheel()[: len(wheel()) // 2], "zip"),
        (wheel()[:-10], "zip"),
        (npm_tarball()[: len(npm_tarball()) // 2], "tar"),
        (npm_tarball("w")[:1200], "tar"),  # cut inside package.json's data
        (npm_tarball("w:bz2")[: len(npm_tarball("w:bz2")) // 2], "tar"),
        (npm_tarball("w:xz")[: len(npm_tarball("w:xz")) // 2], "tar"),
        (b"", "zip"),
        (b"", "tar"),
        (b"not an archive at all", "zip"),
    ],
)
def test_a_truncated_or_corrupt_archive_is_invalid_archive(data: bytes, kind: str) -> None:
    """Truncated or garbage bytes are an InvalidArchive (code invalid_archive), never another error."""
    with pytest.raises(RegistryError) as caught:
        inspect_archive(io.BytesIO(data), kind)
    assert caught.value.code == "invalid_archive"


def test_a_corrupt_crc_is_invalid_archive() -> None:
    """A member whose data does not match its CRC is invalid."""
    data = raw_zip([RawEntry("demo/a.py", b"print(1)\n", crc=12345)])
    with pytest.raises(InvalidArchive):
        inspect_zip(io.BytesIO(data))


GOOD = [
    (wheel(), "zip"),
    (npm_tarball(), "tar"),
    (npm_tarball("w"), "tar"),
    (bz2.compress(npm_tarball("w")), "tar"),
    (lzma.compress(npm_tarball("w")), "tar"),
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=4096), kind=st.sampled_from(["zip", "tar"]))
def test_arbitrary_bytes_raise_only_registry_errors(data: bytes, kind: str) -> None:
    """Whatever the bytes, inspection either lists them or raises a RegistryError."""
    with contextlib.suppress(RegistryError):
        inspect_archive(io.BytesIO(data), kind)


@FUZZ
@given(
    base=st.sampled_from(GOOD),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_damaged_good_archives_raise_only_registry_errors(
    base: tuple[bytes, str], edits: list[tuple[int, int]], cut: int | None
) -> None:
    """A good archive with bytes flipped and/or cut short either passes or raises a RegistryError:
    damage deep inside the formats (headers, compressed streams, CRCs) never escapes as a crash."""
    data = bytearray(base[0])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    for kind in ("zip", "tar"):
        with contextlib.suppress(RegistryError):
            read_member(io.BytesIO(bytes(data)), kind, "package/package.json")
