"""When a version (or a whole package) may be deleted through the REST API, for ecosystems without a
policy of their own (Python; npm applies its unpublish policy, `npm/unpublish.py`), as a pure function.

- Within `window` (72 h) of publishing a version: always (a fresh mistake is taken back).
- Later: only while no other package of the team depends on the package: deleting it would break
  their installs. Refused with `delete_refused` (409), naming the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.registry.errors import RegistryError


class DeleteRefused(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("delete_refused", message)


@dataclass(frozen=True, slots=True)
class DeletePolicy:
    window: timedelta = timedelta(hours=72)


def check_delete(
    name: str,
    published: Sequence[tuple[str, datetime]],
    dependents: int,
    now: datetime,
    policy: DeletePolicy | None = None,
) -> None:
    """Raises `DeleteRefused` when a version of `published` (version, publish instant) is older than
    the window while `dependents` other packages of the team depend on `name`."""
    policy = policy or DeletePolicy()
    old = [version for version, at in published if now - at > policy.window]
    if old and dependents:
        hours = int(policy.window.total_seconds() // 3600)
        raise DeleteRefused(
            f"{dependents} other package(s) of this team depend on {name} and {', '.join(old)} was "
            f"published more than {hours} h ago: a version can be deleted within {hours} h of "
            "publishing, or once no other package of the team depends on it"
        )
