"""The one error base of the registry: every refusal carries a stable machine `code` (the edge turns it
into the client's own error format) and a message for a person. It is `shared.refusals.Refusal`, so an
archive refused by `shared.archives` is a registry error like any other."""

from __future__ import annotations

from shared.refusals import Refusal

RegistryError = Refusal
