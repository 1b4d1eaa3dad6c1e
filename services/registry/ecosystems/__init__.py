"""Each ecosystem's rules for names and versions, by ecosystem (`RULES`)."""

from __future__ import annotations

from services.registry.ecosystems.interface import EcosystemRules
from services.registry.ecosystems.npm import NPM
from services.registry.ecosystems.python import PYTHON
from shared.messages.artifacts import Ecosystem

RULES: dict[Ecosystem, EcosystemRules] = {
    Ecosystem.PYPI: PYTHON,
    Ecosystem.NPM: NPM,
}

__all__ = ["RULES", "EcosystemRules"]
