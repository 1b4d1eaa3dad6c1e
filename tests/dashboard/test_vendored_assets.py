"""The vendored browser libraries: committed files match their manifest, and only what we serve is served."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from services.dashboard import assets

VENDOR = assets.STATIC / "vendor"
MANIFEST = json.loads((VENDOR / "manifest.json").read_text())


def test_committed_files_match_the_manifest() -> None:
    """Every file the manifest lists is committed with its SHA-256, and nothing unlisted is there."""
    listed: set[Path] = set()
    for package in MANIFEST["packages"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), "pinned to an exact version"
        assert package["integrity"].startswith("sha512-"), "the npm tarball's integrity is recorded"
        directory = VENDOR / f"{package['name']}-{package['version']}"
        for name, entry in package["files"].items():
            path = directory / name
            listed.add(path)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path
    on_disk = {p for p in VENDOR.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert on_disk == listed


def test_every_package_ships_its_licence() -> None:
    """Each vendored package carries its licence file beside its code."""
    for package in MANIFEST["packages"]:
        assert "LICENSE" in package["files"], package["name"]
        assert package["license"], package["name"]


def test_pages_reference_only_vendored_versions_that_exist() -> None:
    """The versioned paths the templates load are files of the manifest (a version bump updates both)."""
    templates = "".join(p.read_text() for p in (assets.STATIC.parent / "templates").rglob("*.html"))
    routes = (Path(__file__).parents[2] / "agents/super_agent/routes/dashboard.py").read_text()
    referenced = set(re.findall(r"vendor/([\w.\-]+/[\w.\-]+)", templates + routes))
    assert referenced, "the pages load vendored files"
    for name in referenced:
        assert f"vendor/{name}" in assets.files(), name
