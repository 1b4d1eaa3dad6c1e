"""The deployment guide lists every alert the rules define, so operators know what can page them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_every_alert_rule_is_in_the_deploy_guide() -> None:
    """Each `alert:` of deploy/prometheus/rules.yaml has a row in deploy/README.md's alert table, and
    the table names no alert that does not exist."""
    rules = yaml.safe_load((REPO / "deploy/prometheus/rules.yaml").read_text())
    defined = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    guide = (REPO / "deploy/README.md").read_text()
    listed = set(re.findall(r"^\| `(Mno\w+)` \|", guide, flags=re.MULTILINE))
    assert len(defined) >= 10
    assert listed == defined
