"""The one error base of the registry: every refusal carries a stable machine `code` (the edge turns it
into the client's own error format) and a message for a person."""

from __future__ import annotations


class RegistryError(Exception):
    """A refusal with a stable machine `code` (e.g. `invalid_name`, `unsafe_archive`) and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
