"""Documentation generated from the code, never written by hand: the role-by-permission matrix."""

from __future__ import annotations

from shared.messages.permissions import ROLE_PERMISSIONS, Permission, Role

MATRIX_HEADER = """# Roles and permissions

Generated from `shared/messages/permissions.py` by `mno docs permissions`; a test fails when this
file and the table disagree. API keys carry a subset of their creator's permissions. No role
holds the `platform:*` permissions: only the operator token (`auth.bootstrap_token`) does.
"""


def permission_matrix() -> str:
    roles = list(Role)
    lines = [
        MATRIX_HEADER,
        "| permission | " + " | ".join(role.value for role in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        allowed = ROLE_PERMISSIONS[permission]
        marks = " | ".join("✓" if role in allowed else "" for role in roles)
        lines.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(lines) + "\n"
