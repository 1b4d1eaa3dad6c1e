"""The README names only what exists: every `mno` command, make target and HTTP route it mentions is real.

A README that promises a route or command that was renamed or never built is how users learn not to
trust it; this reads the README the way a user does and checks each name against the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from agents.super_agent.routes import ROUTES
from mno.cli import app

REPO = Path(__file__).resolve().parents[1]
# Markdown tables escape `|` inside code: `mno operator deliveries\|delivery` names two commands.
README = (REPO / "README.md").read_text().replace("\\|", "|")

# `/api/v1/costs?since=...`, `/proxy/openai/v1`, `/v1/traces`, `/webhooks/github`, `/api/v1/operator/*`
ROUTE_MENTION = re.compile(
    r"(?<![a-zA-Z_.-])(/(?:api/v1|v1|proxy|webhooks|dashboard)(?![\w-])(?:/[\w\-{}.*]+)*)"
)
MNO_MENTION = re.compile(r"`(?:\.venv/bin/)?mno ([a-z][\w-]*(?: [a-z][\w|-]*)?)")
MAKE_MENTION = re.compile(r"\bmake ([a-z][\w-]*)\b")


def route_mentions(text: str) -> set[str]:
    return {match.rstrip(".") for match in ROUTE_MENTION.findall(text)}


def route_exists(mentioned: str) -> bool:
    """A mention names a route when it is one (templates matched by segment) or, for a base URL such as
    `/proxy/openai/v1` or a family such as `/api/v1/operator/*`, when routes live under it."""
    prefix = mentioned.removesuffix("/*")
    for route in ROUTES:
        pattern = re.sub(r"\\\{[^}]*\\\}", r"[^/]+", re.escape(route.path))
        if re.fullmatch(pattern, mentioned) or route.path.startswith(prefix + "/"):
            return True
    return False


def command_exists(root: Any, words: list[str]) -> bool:
    command: Any = root
    for word in words:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            return True  # the rest are arguments of a leaf command (`mno config check FILE`)
        alternatives = word.split("|")
        if not all(alt in subcommands for alt in alternatives):
            return False
        command = subcommands[alternatives[0]]
    return True


def make_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.MULTILINE))


def test_every_route_the_readme_names_is_served() -> None:
    """Each /api/v1, /v1, /proxy, /webhooks or /dashboard path in the README is a route of the edge."""
    mentioned = route_mentions(README)
    assert len(mentioned) >= 10, "the README's routes were not found: has the pattern drifted?"
    assert sorted(m for m in mentioned if not route_exists(m)) == []


def test_every_mno_command_the_readme_names_exists() -> None:
    """Each `mno <command>` in the README (the table and the prose) is a command of the CLI."""
    root = typer.main.get_command(app)
    mentioned = set(MNO_MENTION.findall(README))
    assert len(mentioned) >= 5
    missing = [m for m in sorted(mentioned) if not command_exists(root, m.split()[:2])]
    assert missing == []


def test_every_make_target_the_readme_names_exists() -> None:
    """Each `make <target>` in the README is a target of the Makefile."""
    mentioned = set(MAKE_MENTION.findall(README))
    assert {"run", "test"} <= mentioned
    assert sorted(mentioned - make_targets()) == []


def test_the_checks_catch_what_does_not_exist() -> None:
    """The matchers refuse a made-up route, command and target (so the tests above can fail)."""
    assert not route_exists("/api/v1/packages/nothing-here")
    assert route_exists("/api/v1/apikeys/7f1c")  # a template segment
    assert not command_exists(typer.main.get_command(app), ["publish"])
    assert "deploy-everything" not in make_targets()
