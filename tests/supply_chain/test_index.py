"""The advisory index: records from a directory, zip or tar of JSON and YAML, kept per (ecosystem,
package) and replaced or retired incrementally; the audit of components into findings."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from services.supply_chain.index import AdvisoryIndex, load_index
from services.supply_chain.osv import parse
from tests.supply_chain.records import events, record

NPM_JSON = {
    "schema_version": "1.2.0",
    "id": "GHSA-r9p9-mrjm-926w",
    "modified": "2021-03-08T16:02:43Z",
    "published": "2021-03-08T16:06:50Z",
    "aliases": ["CVE-2020-28498"],
    "summary": "Use of a Broken or Risky Cryptographic Algorithm",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "elliptic"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "6.5.4"}]}],
        }
    ],
    "database_specific": {"cwe_ids": ["CWE-327"], "severity": "MODERATE", "github_reviewed": True},
}

# As the PyPA database writes records: YAML, versions and timestamps often unquoted.
PYPI_YAML = """\
id: PYSEC-0000-1
modified: 2024-02-05T20:20:47.716944Z
published: 2024-01-29T23:15:00Z
aliases:
- CVE-0000-0001
details: Unquoted versions stay the text they are written as.
affected:
- package:
    name: Example_Pkg
    ecosystem: PyPI
    purl: pkg:pypi/example-pkg
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: 1.0
    - fixed: 2.10
  versions:
  - 1.0
  - 2.9
"""


def write_tree(root: Path) -> Path:
    (root / "npm").mkdir(parents=True)
    (root / "npm" / "GHSA-r9p9-mrjm-926w.json").write_text(json.dumps(NPM_JSON))
    (root / "pypi" / "example-pkg").mkdir(parents=True)
    (root / "pypi" / "example-pkg" / "PYSEC-0000-1.yaml").write_text(PYPI_YAML)
    (root / "LICENSE").write_text("not a record")
    return root


def test_unquoted_yaml_versions_keep_their_text() -> None:
    """`fixed: 2.10` is the release 2.10, not the float 2.1: 2.9 is affected and 2.10 is not."""
    advisory = parse(PYPI_YAML, "PYSEC-0000-1.yaml")
    assert [e.version for e in advisory.affected[0].ranges[0].events] == ["1.0", "2.10"]
    assert advisory.affected[0].versions == ("1.0", "2.9")
    index = AdvisoryIndex()
    index.add(advisory)
    found = {v: bool(index.matches("PyPI", "example-pkg", v)) for v in ["0.9", "1.0", "2.9", "2.10", "2.11"]}
    assert found == {"0.9": False, "1.0": True, "2.9": True, "2.10": False, "2.11": False}


@pytest.mark.parametrize("packing", ["directory", "zip", "tar.gz"])
def test_loads_json_and_yaml_records_from_a_directory_zip_or_tar(tmp_path: Path, packing: str) -> None:
    """Every .json/.yaml record of the source is indexed; other files (LICENSE) are skipped."""
    tree = write_tree(tmp_path / "tree")
    if packing == "directory":
        source = tree
    elif packing == "zip":
        source = tmp_path / "osv.zip"
        with zipfile.ZipFile(source, "w") as archive:
            for file in tree.rglob("*"):
                if file.is_file():
                    archive.write(file, file.relative_to(tree).as_posix())
    else:
        source = tmp_path / "osv.tar.gz"
        with tarfile.open(source, "w:gz") as archive:
            archive.add(tree, arcname="db")
    index, report = load_index(source)
    assert (report.files, report.added, report.withdrawn, report.errors) == (2, 2, 0, [])
    assert [a.id for a in index.advisories_for("npm", "elliptic")] == ["GHSA-r9p9-mrjm-926w"]
    assert [a.id for a in index.advisories_for("PyPI", "example-pkg")] == ["PYSEC-0000-1"]


def test_a_bad_record_is_reported_with_its_file_and_the_rest_load(tmp_path: Path) -> None:
    """One unreadable file costs only itself: the report names it, the other records are indexed."""
    tree = write_tree(tmp_path)
    (tree / "npm" / "broken.json").write_text('{"id": "X", "affected": [')
    (tree / "npm" / "invalid.json").write_text(
        json.dumps(
            {
                "id": "Y",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": "x"},
                        "ranges": [{"type": "SEMVER", "events": [{"fixed": "1.0.0"}]}],
                    }
                ],
            }
        )
    )
    index, report = load_index(tree)
    assert report.added == 2
    assert sorted(name for name, _ in report.errors) == ["npm/broken.json", "npm/invalid.json"]
    assert len(index) == 2


def test_audit_returns_findings_with_aliases_fixed_versions_and_severity(tmp_path: Path) -> None:
    """A finding names the advisory, its aliases, the fixes and the CVSS vector; clean versions give none."""
    index, _ = load_index(write_tree(tmp_path))
    findings = index.audit(
        [("npm", "elliptic", "6.5.3"), ("npm", "elliptic", "6.5.4"), ("PyPI", "Example.Pkg", "2.9")]
    )
    assert [(f.advisory_id, f.package, f.version) for f in findings] == [
        ("GHSA-r9p9-mrjm-926w", "elliptic", "6.5.3"),
        ("PYSEC-0000-1", "Example.Pkg", "2.9"),
    ]
    elliptic, example = findings
    assert elliptic.aliases == ("CVE-2020-28498",)
    assert elliptic.fixed_versions == ("6.5.4",)
    assert elliptic.severity == "CVSS_V3 CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N"
    assert elliptic.summary == "Use of a Broken or Risky Cryptographic Algorithm"
    assert example.fixed_versions == ("2.10",)
    assert example.severity is None


def test_severity_falls_back_to_the_databases_word() -> None:
    """Without CVSS vectors, the database's own severity (GitHub's MODERATE) is what a finding shows."""
    no_vector = {k: v for k, v in NPM_JSON.items() if k != "severity"}
    index = AdvisoryIndex()
    index.add(parse(json.dumps(no_vector), "x.json"))
    (finding,) = index.audit([("npm", "elliptic", "1.0.0")])
    assert finding.severity == "MODERATE"


def test_newer_record_replaces_older_and_older_never_replaces_newer() -> None:
    """Incremental import: a modified record's new ranges apply; a stale copy arriving later is ignored."""
    old = record(
        "PyPI",
        "example",
        [events("ECOSYSTEM", ("introduced", "0"), ("fixed", "1.0"))],
        id="PYSEC-1",
        modified="2024-01-01T00:00:00Z",
    )
    new = record(
        "PyPI",
        "example",
        [events("ECOSYSTEM", ("introduced", "0"), ("fixed", "2.0"))],
        id="PYSEC-1",
        modified="2024-06-01T00:00:00Z",
    )
    index = AdvisoryIndex()
    assert index.add(old)
    assert not index.matches("PyPI", "example", "1.5")
    assert index.add(new)
    assert [m.fixed_versions for m in index.matches("PyPI", "example", "1.5")] == [("2.0",)]
    assert not index.add(old)
    assert [m.fixed_versions for m in index.matches("PyPI", "example", "1.5")] == [("2.0",)]
    assert len(index) == 1


def test_withdrawn_record_retires_its_id_and_its_package_entries() -> None:
    """A withdrawn version of a held record removes it: no match, no advisory listed for the package."""
    live = record(
        "PyPI",
        "redis",
        [events("ECOSYSTEM", ("introduced", "0"))],
        id="PYSEC-2023-73",
        modified="2023-05-18T00:00:00Z",
    )
    withdrawn = record(
        "PyPI",
        "redis",
        [events("ECOSYSTEM", ("introduced", "0"))],
        id="PYSEC-2023-73",
        modified="2023-06-27T00:00:00Z",
        withdrawn="2023-06-06T10:37:00Z",
    )
    index = AdvisoryIndex()
    index.add(live)
    assert index.matches("PyPI", "redis", "5.0.0")
    assert index.add(withdrawn)
    assert index.matches("PyPI", "redis", "5.0.0") == []
    assert index.advisories_for("PyPI", "redis") == []
    assert index.get("PYSEC-2023-73") is None
