"""The REST delete policy (services/registry/delete_policy.py) and its override, as pure functions;
the rules npm's unpublish policy names (services/registry/npm/unpublish.py) for the same override."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.delete_policy import (
    OLD_VERSION_WITH_DEPENDENTS,
    DeletePolicy,
    DeleteRefused,
    check_delete,
    delete_refusal,
)
from services.registry.npm.unpublish import (
    DOWNLOADED_AFTER_WINDOW,
    HAS_DEPENDENTS,
    MAINTAINERS_AFTER_WINDOW,
    UnpublishFacts,
    unpublish_refusal,
)
from shared.messages.permissions import Permission, Role, permissions_of_roles

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(hours=73)
FRESH = NOW - timedelta(hours=71)


def test_an_old_depended_on_version_is_refused_naming_the_rule() -> None:
    """Past 72 h with a dependent: `delete_refused`, the rule named, the versions and the way out said."""
    with pytest.raises(DeleteRefused) as caught:
        check_delete("acme-lib", [("1.0", OLD), ("1.1", FRESH)], dependents=2, now=NOW)
    refused = caught.value
    assert refused.code == "delete_refused"
    assert refused.rule == OLD_VERSION_WITH_DEPENDENTS
    assert "2 other package(s) of this team depend on acme-lib" in refused.message
    assert "1.0 was published more than 72 h ago" in refused.message
    assert "1.1" not in refused.message  # fresh: not what the refusal is about
    assert "force=true" in refused.message


def test_fresh_versions_or_no_dependents_are_allowed_without_force() -> None:
    """Within the window, or with nothing depending on the package, there is nothing to override."""
    assert check_delete("acme-lib", [("1.0", FRESH)], dependents=5, now=NOW) is None
    assert check_delete("acme-lib", [("1.0", OLD)], dependents=0, now=NOW) is None
    assert delete_refusal("acme-lib", [("1.0", OLD)], dependents=0, now=NOW) is None


def test_force_overrides_the_refusal_and_returns_it() -> None:
    """With force the delete goes on and the refusal it overrode comes back for the audit log; force
    on an allowed delete overrides nothing."""
    overridden = check_delete("acme-lib", [("1.0", OLD)], dependents=1, now=NOW, force=True)
    assert overridden is not None
    assert overridden.rule == OLD_VERSION_WITH_DEPENDENTS
    assert "acme-lib" in overridden.message
    assert check_delete("acme-lib", [("1.0", FRESH)], dependents=1, now=NOW, force=True) is None


def test_the_window_is_a_parameter() -> None:
    """A 24 h policy refuses a 30 h old version that the default one would still take back."""
    at = NOW - timedelta(hours=30)
    assert check_delete("acme-lib", [("1.0", at)], dependents=1, now=NOW) is None
    refused = delete_refusal("acme-lib", [("1.0", at)], 1, NOW, DeletePolicy(window=timedelta(hours=24)))
    assert refused is not None
    assert "24 h" in refused.message


def test_npm_refusals_name_their_rule() -> None:
    """Each refusal of the unpublish policy names the rule the REST override records."""
    cases = [
        (UnpublishFacts(FRESH, dependents=1, weekly_downloads=0), HAS_DEPENDENTS),
        (UnpublishFacts(OLD, dependents=0, weekly_downloads=300), DOWNLOADED_AFTER_WINDOW),
        (UnpublishFacts(OLD, dependents=0, weekly_downloads=0, maintainers=2), MAINTAINERS_AFTER_WINDOW),
    ]
    for facts, rule in cases:
        refused = unpublish_refusal(facts, NOW)
        assert refused is not None
        assert refused.code == "unpublish_refused"
        assert refused.rule == rule
    assert unpublish_refusal(UnpublishFacts(OLD, dependents=0, weekly_downloads=299), NOW) is None


def test_only_owners_and_admins_may_override() -> None:
    """artifacts:delete_override is an owner's and an admin's; members, viewers and billing lack it."""
    for role in Role:
        granted = Permission.ARTIFACTS_DELETE_OVERRIDE in permissions_of_roles((role.value,))
        assert granted == (role in (Role.OWNER, Role.ADMIN)), role
