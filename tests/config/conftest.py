from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "config" / "machine-native-ops.yaml"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text to a config file in tmp_path and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "mno.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
