"""Fixtures for key tests: MCUboot's sample keys (copied with provenance) and fresh keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# The SoftHSM2 token fixtures (session-wide, one per xdist worker).
from tests.keys.softhsm import pin_env, softhsm  # noqa: F401

SAMPLE_DIR = Path(__file__).parent / "data" / "mcuboot-sample-keys"


@pytest.fixture
def sample_key(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a function copying a sample key into tmp_path with mode 0600."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copyfile(SAMPLE_DIR / name, target)
        target.chmod(0o600)
        return target

    return copy
