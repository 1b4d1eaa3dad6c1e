"""A refusal with a stable machine `code` (e.g. `invalid_name`, `unsafe_archive`) and a message for a
person: the base of the registry's errors (services/registry/errors.py) and of the archive checks
(shared/archives.py) that the ArtifactManagerAgent and the SupplyChainAgent both run."""

from __future__ import annotations


class Refusal(Exception):
    """A refusal with a stable machine `code` and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
