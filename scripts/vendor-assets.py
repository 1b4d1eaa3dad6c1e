#!/usr/bin/env python3
"""The dashboard's vendored browser libraries: fetched from the npm registry, checked, committed.

services/dashboard/static/vendor/manifest.json names each package, its pinned version, the npm
tarball's integrity (SRI, sha512) and the files taken from it with their SHA-256. This script
fetches the tarballs with `npm pack` (the npm client, whatever registry it is configured with),
verifies each tarball against its integrity, and then:

  scripts/vendor-assets.py            check: the committed files are byte-identical to the packages'
  scripts/vendor-assets.py --update   write the files and the manifest (after changing a version
                                      in the manifest, or adding a package or a file to it)

With --update a package's integrity is taken from the registry when its version changed (and shown);
otherwise a tarball whose integrity differs from the manifest's is refused either way.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent.parent / "services" / "dashboard" / "static" / "vendor"
MANIFEST = VENDOR / "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(name: str, version: str, workdir: Path) -> tuple[Path, str]:
    """The package's tarball (by the npm client) and the integrity the registry states for it."""
    out = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    described = json.loads(out.stdout)[0]
    return workdir / described["filename"], described["integrity"]


def files_of(tarball: Path, wanted: dict[str, str]) -> dict[str, bytes]:
    """{our name: bytes} for each {our name: path inside the tarball}."""
    found: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for ours, inside in wanted.items():
            member = archive.extractfile(inside)
            if member is None:
                raise SystemExit(f"{tarball.name}: no file {inside}")
            found[ours] = member.read()
    return found


def directory(package: dict[str, Any]) -> Path:
    return VENDOR / f"{package['name']}-{package['version']}"


def process(package: dict[str, Any], workdir: Path, update: bool) -> list[str]:
    """Problems with one package (empty: fine); with `update`, its files and entry rewritten."""
    name, version = package["name"], package["version"]
    tarball, stated = fetch(name, version, workdir)
    actual = sri_sha512(tarball.read_bytes())
    if actual != stated:
        return [f"{name}@{version}: the tarball's sha512 is not the registry's integrity"]
    pinned = package.get("integrity")
    if pinned and pinned != actual and not (update and package.get("_version_changed")):
        return [f"{name}@{version}: integrity {actual} differs from the manifest's {pinned}"]
    contents = files_of(tarball, {ours: entry["from"] for ours, entry in package["files"].items()})
    problems: list[str] = []
    if update:
        package["integrity"] = actual
        target = directory(package)
        target.mkdir(parents=True, exist_ok=True)
        for ours, data in contents.items():
            (target / ours).write_bytes(data)
            package["files"][ours]["sha256"] = sha256(data)
        return problems
    for ours, data in contents.items():
        committed = directory(package) / ours
        if not committed.is_file() or committed.read_bytes() != data:
            problems.append(f"{committed.relative_to(VENDOR)} differs from {name}@{version}'s file")
        if package["files"][ours].get("sha256") != sha256(data):
            problems.append(f"manifest sha256 of {name}/{ours} is not the package file's")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--update", action="store_true", help="write the files and the manifest")
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mno-vendor-") as tmp:
        for package in manifest["packages"]:
            if args.update and not directory(package).is_dir():
                package["_version_changed"] = True
            problems += process(package, Path(tmp), args.update)
            package.pop("_version_changed", None)
    if args.update and not problems:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"wrote {MANIFEST.relative_to(VENDOR.parent.parent.parent.parent)}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems and not args.update:
        print("vendored files match their npm packages")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
