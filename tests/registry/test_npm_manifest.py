"""The dependencies the registry reads from a package.json (services/registry/npm/manifest.py), pure."""

from __future__ import annotations

from services.registry.npm.manifest import dependencies_of
from shared.messages.artifacts import DependencyKind


def test_a_peer_marked_optional_in_peer_dependencies_meta_is_optional() -> None:
    """`peerDependenciesMeta[name].optional: true` makes that peer optional; other peers stay peers."""
    manifest = {
        "peerDependencies": {"react": "^18.0.0", "react-dom": "^18.0.0", "@types/react": "*", "vue": "^3"},
        "peerDependenciesMeta": {
            "@types/react": {"optional": True},
            "react-dom": {"optional": False},
            "vue": {"optional": "yes"},  # not the boolean npm reads: still a required peer
            "not-a-peer": {"optional": True},
        },
    }
    kinds = {d.name: (d.kind, d.requirement) for d in dependencies_of(manifest)}
    assert kinds == {
        "@types/react": (DependencyKind.OPTIONAL, "*"),
        "react": (DependencyKind.PEER, "^18.0.0"),
        "react-dom": (DependencyKind.PEER, "^18.0.0"),
        "vue": (DependencyKind.PEER, "^3"),
    }


def test_peer_dependencies_meta_changes_no_other_kind() -> None:
    """A name also under `dependencies` stays a runtime dependency; a malformed meta changes nothing."""
    manifest = {
        "dependencies": {"lodash": "^4"},
        "peerDependencies": {"lodash": "^4", "react": "^18"},
        "peerDependenciesMeta": {"lodash": {"optional": True}, "react": True},
    }
    assert [(d.name, d.kind) for d in dependencies_of(manifest)] == [
        ("lodash", DependencyKind.RUNTIME),
        ("react", DependencyKind.PEER),
    ]
    assert dependencies_of({"peerDependencies": {"react": "^18"}, "peerDependenciesMeta": []})[0].kind == (
        DependencyKind.PEER
    )
