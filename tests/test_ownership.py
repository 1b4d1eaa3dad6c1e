"""Each `services/` package belongs to one agent, and says which: what two agents use lives in `shared/`.

import-linter keeps the layers one way; this adds the rule it cannot express: no services package is
reached (directly or through another services package) from two agents, so each agent's domain code
can change without breaking another process."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
AGENTS = {
    "super_agent": "SuperAgent",
    "monitoring": "MonitoringAgent",
    "artifact_manager": "ArtifactManagerAgent",
    "supply_chain": "SupplyChainAgent",
    "learning": "LearningAgent",
}
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/__init__.py"))


def declared_owner(package: str) -> str | None:
    docstring = ast.get_docstring(ast.parse((REPO / "services" / package / "__init__.py").read_text()))
    match = re.search(r"Owned by the (\w+)", docstring or "")
    return match.group(1) if match else None


def agents_reaching_each_service() -> dict[str, set[str]]:
    graph = grimp.build_graph("agents", "services", "shared")
    reached: dict[str, set[str]] = defaultdict(set)
    for agent in AGENTS:
        for module in graph.find_upstream_modules(f"agents.{agent}", as_package=True):
            if module.startswith("services."):
                reached[module.split(".")[1]].add(agent)
    return reached


def test_every_services_package_names_its_owner_agent() -> None:
    """Each services package's docstring says `Owned by the <Agent>.` with a real agent's name."""
    owners = {package: declared_owner(package) for package in SERVICES}
    assert {p: o for p, o in owners.items() if o not in AGENTS.values()} == {}


def test_no_services_package_is_used_by_two_agents() -> None:
    """Only the owner agent imports a services package (directly or through other services)."""
    reached = agents_reaching_each_service()
    shared_by_several = {package: sorted(agents) for package, agents in reached.items() if len(agents) > 1}
    assert shared_by_several == {}, "move what several agents use to shared/"


def test_the_owner_named_is_the_agent_that_uses_it() -> None:
    """A package used by an agent names that agent as its owner (the docstring cannot drift)."""
    reached = agents_reaching_each_service()
    wrong = {
        package: (declared_owner(package), sorted(AGENTS[a] for a in agents))
        for package, agents in reached.items()
        if len(agents) == 1 and declared_owner(package) != AGENTS[next(iter(agents))]
    }
    assert wrong == {}
