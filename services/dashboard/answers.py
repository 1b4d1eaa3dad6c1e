"""An API answer a page could not get, in words for the panel that wanted it.

A page asks several routes; one refused (the plan lacks a feature, the role a permission) or
unreachable must not take the whole page down: its panel says why instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.messages.envelope import ErrorBody, ErrorCode

Reason = Literal["plan", "role", "unavailable", "error"]


@dataclass(frozen=True)
class Unavailable:
    reason: Reason
    message: str
    # The refusal's own code where the API names one (its details' `type`, e.g. `delete_refused`): a
    # page may offer the way past that refusal (an owner's override).
    code: str | None = None

    @property
    def hidden(self) -> bool:
        """A panel the caller's role may not see is left out, not shown as a refusal."""
        return self.reason == "role"


def unavailable(body: ErrorBody) -> Unavailable:
    if body.code == ErrorCode.FORBIDDEN:
        plan = next((d for d in body.details if d.get("type") == "plan_feature"), None)
        if plan is not None:
            return Unavailable("plan", f"The {plan.get('plan')} plan does not include {plan.get('feature')}.")
        return Unavailable("role", body.message)
    if body.code in (ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.OUTCOME_UNKNOWN):
        return Unavailable("unavailable", "Not available right now (the service did not answer); try again.")
    code = next((str(d["type"]) for d in body.details if d.get("type")), None)
    return Unavailable("error", body.message, code)
