"""Issue 13's security check: every distribution installed in the project's venv, audited against the
PyPA advisory snapshot kept in the repository (2024-10-10, CC-BY 4.0), offline. A finding fails the
test unless security/dependency-audit-allow.yaml waives it until a review date."""

from __future__ import annotations

import importlib.metadata
from datetime import date
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name

from services.supply_chain.waivers import apply_waivers, parse_waivers
from tests.supply_chain.snapshot import pypa_index

REPO = Path(__file__).resolve().parents[2]
ALLOW_LIST = REPO / "security" / "dependency-audit-allow.yaml"


def installed_distributions() -> list[tuple[str, str, str]]:
    """(PyPI, name, version) of each installed distribution, once per normalised name (the first on
    sys.path wins, as for imports)."""
    seen: dict[str, tuple[str, str, str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonicalize_name(name) not in seen:
            seen[canonicalize_name(name)] = ("PyPI", name, dist.version)
    return sorted(seen.values(), key=lambda c: canonicalize_name(c[1]))


def test_installed_distributions_have_no_unwaived_advisories() -> None:
    """No installed distribution is at a version a (non-withdrawn) PyPA advisory affects, unless waived
    by a current entry of the allow-list; expired or unused allow-list entries fail too."""
    index, report = pypa_index()
    assert report.errors == []
    components = installed_distributions()
    findings = index.audit(components)
    verdict = apply_waivers(findings, parse_waivers(yaml.safe_load(ALLOW_LIST.read_text())), date.today())
    print(
        f"\naudited {len(components)} installed distributions against {len(index)} PyPA advisories "
        f"(snapshot 2024-10-10, CC-BY 4.0): {len(findings)} findings, {len(verdict.open)} not waived"
    )
    problems = [f"finding: {f.describe()}" for f in verdict.open]
    problems += [f"expired waiver: {w.describe()}" for w in verdict.expired]
    problems += [f"unused waiver (remove it): {w.describe()}" for w in verdict.unused]
    assert not problems, "\n".join(problems)
    assert len(components) > 50  # the venv, not an empty path: the audit saw what the project runs on
