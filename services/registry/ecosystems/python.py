"""Python's rules: PEP 503 names, PEP 440 versions (both by `packaging`, as pip applies them)."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion as PackagingInvalidVersion
from packaging.version import Version

from services.registry.ecosystems.interface import EcosystemRules, InvalidName, InvalidVersion, VersionKey
from shared.messages.artifacts import Ecosystem

# The core metadata spec's rule for `Name` (PEP 508 identifiers): ASCII letters and digits, with
# `.`, `_` and `-` inside, starting and ending with a letter or digit.
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
MAX_NAME_LENGTH = 200


class PythonRules(EcosystemRules):
    ecosystem = Ecosystem.PYPI

    def normalize_name(self, name: str) -> str:
        return str(canonicalize_name(name))

    def validate_name(self, name: str) -> None:
        if len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
            raise InvalidName(
                f"{name!r} is not a valid Python project name (letters, digits, '.', '_', '-'; "
                "starting and ending with a letter or digit)"
            )

    def parse_version(self, version: str) -> VersionKey:
        try:
            return Version(version)
        except PackagingInvalidVersion:
            raise InvalidVersion(f"{version!r} is not a PEP 440 version") from None

    def normalize_version(self, version: str) -> str:
        return str(self.parse_version(version))

    def is_prerelease(self, version: str) -> bool:
        # Development releases count as pre-releases for pip too.
        parsed = Version(version)
        return parsed.is_prerelease or parsed.is_devrelease


PYTHON = PythonRules()
