"""When a version (or a whole package) may be deleted through the REST API, for ecosystems without a
policy of their own (Python; npm applies its unpublish policy, `npm/unpublish.py`), as a pure function.

- Within `window` (72 h) of publishing a version: always (a fresh mistake is taken back).
- Later: only while no other package of the team depends on the package: deleting it would break
  their installs. Refused with `delete_refused` (409), naming the rule.

A refusal can be overridden (`force`) by whoever holds `artifacts:delete_override` (owners and
admins): a leaked secret or a licence problem in an old, depended-on version must be removable. The
override does not skip the check: the refusal it overrode is returned, so the audit log names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.registry.errors import RegistryError

# The rule a refusal names (`DeleteRefused.rule`), recorded with an override in the audit log.
OLD_VERSION_WITH_DEPENDENTS = "old_version_with_dependents"


class DeleteRefused(RegistryError):
    def __init__(self, message: str, rule: str = OLD_VERSION_WITH_DEPENDENTS) -> None:
        super().__init__("delete_refused", message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class DeletePolicy:
    window: timedelta = timedelta(hours=72)


def delete_refusal(
    name: str,
    published: Sequence[tuple[str, datetime]],
    dependents: int,
    now: datetime,
    policy: DeletePolicy | None = None,
) -> DeleteRefused | None:
    """The refusal of deleting `published` (version, publish instant) of `name` while `dependents`
    other packages of the team depend on it; None when the policy allows the delete."""
    policy = policy or DeletePolicy()
    old = [version for version, at in published if now - at > policy.window]
    if not (old and dependents):
        return None
    hours = int(policy.window.total_seconds() // 3600)
    return DeleteRefused(
        f"{dependents} other package(s) of this team depend on {name} and {', '.join(old)} was "
        f"published more than {hours} h ago: a version can be deleted within {hours} h of "
        "publishing, or once no other package of the team depends on it (an owner or admin may "
        "override this with force=true)"
    )


def check_delete(
    name: str,
    published: Sequence[tuple[str, datetime]],
    dependents: int,
    now: datetime,
    policy: DeletePolicy | None = None,
    *,
    force: bool = False,
) -> DeleteRefused | None:
    """Raises the policy's `DeleteRefused` (see `delete_refusal`) unless `force`; with `force`,
    returns the refusal it overrode (None when the policy allowed the delete anyway). Whether the
    caller may force is the caller's to check (`artifacts:delete_override`)."""
    refused = delete_refusal(name, published, dependents, now, policy)
    if refused is not None and not force:
        raise refused
    return refused
