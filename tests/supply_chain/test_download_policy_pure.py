"""The pure parts of download policies: which ratings block, what to announce, how overrides name a
version, how long a quarantine lasts, and upstream upload instants (PEP 700)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from services.registry.download_policy import blocked_message, quarantine_ends
from services.registry.python.upstream_pages import parse_project_page
from services.registry.upstream_matching import fetched_event_id
from services.supply_chain.download_policy import (
    Blocker,
    BlockKey,
    changes,
    normalise_ref,
    ratings_at_least,
)
from shared.messages.artifacts import Ecosystem, UpstreamVersion
from shared.messages.supply_chain_policy import DownloadPolicyChanged, DownloadPolicySet

NOW = datetime(2030, 6, 1, 12, tzinfo=UTC)


def test_ratings_at_least_a_threshold_and_none_blocks_nothing() -> None:
    """Each threshold blocks its own rating and the worse ones; `none` is the policy switched off."""
    assert ratings_at_least("none") == []
    assert ratings_at_least("low") == ["low", "medium", "high", "critical"]
    assert ratings_at_least("high") == ["high", "critical"]
    assert ratings_at_least("critical") == ["critical"]


def test_changes_announce_new_changed_and_released_versions_only() -> None:
    """Unchanged blocks are not announced again; a changed set of findings and a release are."""
    a, b, c = BlockKey("pypi", "a", "1"), BlockKey("pypi", "b", "1"), BlockKey("npm", "c", "2")
    high = Blocker("f1", "GHSA-1", "high", "dep@1", "under_investigation")
    crit = Blocker("f2", "GHSA-2", "critical", "dep@1", "affected")
    announced = {a: (high,), b: (high,)}
    current = {a: (high,), b: (high, crit), c: (crit,)}
    assert changes(announced, current) == [(c, (crit,)), (b, (high, crit))]
    assert changes(current, {}) == [(c, None), (a, None), (b, None)]
    assert changes(current, current) == []


def test_overrides_name_versions_as_the_registry_stores_them() -> None:
    """PyPI names per PEP 503 and versions per PEP 440's normal form; npm as given."""
    assert normalise_ref("pypi", "Acme_App", "v1.0") == ("acme-app", "1.0")
    assert normalise_ref("pypi", "acme.app", "not-a-version") == ("acme-app", "not-a-version")
    assert normalise_ref("npm", "@Scope/Pkg", "1.0.0-RC.1") == ("@Scope/Pkg", "1.0.0-RC.1")


def test_quarantine_hides_versions_younger_than_the_window_until_they_age() -> None:
    """A version born less than `days` ago is hidden until born + days; 0 days hides nothing."""
    ages = {"1.0": NOW - timedelta(days=10), "2.0": NOW - timedelta(hours=1), "3.0": NOW - timedelta(days=3)}
    assert quarantine_ends(ages, 3, NOW) == {"2.0": NOW - timedelta(hours=1) + timedelta(days=3)}
    assert quarantine_ends(ages, 0, NOW) == {}
    assert set(quarantine_ends(ages, 30, NOW)) == {"1.0", "2.0", "3.0"}


def test_a_refusal_names_at_most_five_findings_and_how_to_triage() -> None:
    """The message pip shows names the findings (then how many more) and the two ways out."""
    findings = [
        {"advisory_id": f"GHSA-{i}", "severity": "high", "package": "dep@1", "finding_id": str(i)}
        for i in range(7)
    ]
    message = blocked_message("acme", "1.0", findings)
    assert "GHSA-4 (high, dep@1, finding 4)" in message
    assert "GHSA-5" not in message
    assert "and 2 more" in message
    assert "/triage" in message
    assert "/api/v1/supply-chain/policy/overrides" in message


def test_a_refusal_says_unrated_for_a_finding_without_severity() -> None:
    """A finding blocking under `block_unrated` is named `unrated`, not `None`."""
    findings = [{"advisory_id": "PYSEC-1", "severity": None, "package": "dep@1", "finding_id": "f"}]
    assert "PYSEC-1 (unrated, dep@1, finding f)" in blocked_message("acme", "1.0", findings)


def test_block_unrated_is_kept_unless_given_and_announced_with_the_policy() -> None:
    """`block_unrated` absent means "keep" (None); an older policy event reads as "does not block"."""
    assert DownloadPolicySet(block_severity="high").block_unrated is None
    assert DownloadPolicySet(block_severity="high", block_unrated=False).block_unrated is False
    old = DownloadPolicyChanged.model_validate({"team_id": "t", "quarantine_days": 2, "revision": 1})
    assert (old.block_severity.value, old.block_unrated) == ("none", False)


def test_an_upstream_file_is_announced_once_per_team_and_file() -> None:
    """One `upstream_version_fetched` id per team and upstream file, whatever its bytes."""
    taken = UpstreamVersion(
        team_id="t1",
        ecosystem=Ecosystem.PYPI,
        upstream="public",
        name="jinja2",
        version="2.10",
        filename="Jinja2-2.10-py2.py3-none-any.whl",
        sha256="a" * 64,
    )
    assert fetched_event_id(taken) == fetched_event_id(taken.model_copy(update={"sha256": "b" * 64}))
    assert fetched_event_id(taken) != fetched_event_id(taken.model_copy(update={"team_id": "t2"}))
    assert fetched_event_id(taken) != fetched_event_id(
        taken.model_copy(update={"filename": "Jinja2-2.10.tar.gz"})
    )
    assert len(fetched_event_id(taken)) <= 64


def test_json_pages_give_upload_instants_and_html_pages_none() -> None:
    """PEP 700's `upload-time` is read from JSON pages (a value without an offset is ignored)."""
    digest = "a" * 64
    files = [
        {
            "filename": "x-1.0.tar.gz",
            "url": "x-1.0.tar.gz",
            "hashes": {"sha256": digest},
            "upload-time": "2030-05-01T10:00:00.123456Z",
        },
        {
            "filename": "x-2.0.tar.gz",
            "url": "x-2.0.tar.gz",
            "hashes": {"sha256": digest},
            "upload-time": "2030-05-01T10:00:00",
        },
    ]
    page = json.dumps({"files": files})
    first, second = parse_project_page(page, "application/vnd.pypi.simple.v1+json", "https://x/simple/x/")
    assert first.uploaded_at == datetime(2030, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert second.uploaded_at is None
    [html] = parse_project_page(
        f'<a href="x-1.0.tar.gz#sha256={digest}">x</a>', "text/html", "https://x/simple/x/"
    )
    assert html.uploaded_at is None
