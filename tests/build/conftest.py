"""Fixtures for the build-directory tests: the generated samples and a west-like workspace."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
KEYS = SAMPLES / "keys"

SAMPLE_A = "a_ncs17_nrf5340_netcore"
SAMPLE_A2 = "a2_ncs17_nrf5340_app_only"
SAMPLE_B = "b_ncs27_nrf5340_simultaneous"
SAMPLE_C = "c_ncs27_nrf5340_single_operation"
SAMPLE_D = "d_zephyr41_nrf52840"
SAMPLE_E = "e_ncs31_nrf54l15_ed25519_x25519"
ALL_SAMPLES = (SAMPLE_A, SAMPLE_A2, SAMPLE_B, SAMPLE_C, SAMPLE_D, SAMPLE_E)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A west top directory in which this repository is the project ``mcuseal``.

    The samples name their keys ``mcuseal/samples/keys/...`` relative to the workspace,
    the way a real build records a key path relative to ``west topdir``.
    """
    top = tmp_path / "ws"
    (top / ".west").mkdir(parents=True)
    (top / ".west" / "config").write_text("[manifest]\npath = mcuseal\nfile = west.yml\n")
    (top / "mcuseal").mkdir()
    (top / "mcuseal" / "samples").symlink_to(SAMPLES)
    return top


@pytest.fixture
def sample(workspace: Path) -> Callable[[str], Path]:
    """Copy a sample build directory into the workspace (tests may modify the copy)."""

    def copy(name: str) -> Path:
        dest = workspace / "builds" / name
        shutil.copytree(SAMPLES / name / "build", dest, symlinks=True)
        return dest

    return copy


def set_config(path: Path, **values: object) -> None:
    """Rewrite symbols in a ``.config``/``pm.config`` file (None removes the symbol)."""
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        name = line.split("=", 1)[0] if "=" in line else line.removeprefix("# ").split(" ")[0]
        if name in values:
            continue
        out.append(line)
    for name, value in values.items():
        if value is None:
            continue
        if value is True:
            out.append(f"{name}=y")
        elif value is False:
            out.append(f"# {name} is not set")
        elif isinstance(value, int):
            out.append(f"{name}={value:#x}")
        else:
            out.append(f'{name}="{value}"')
    path.write_text("\n".join(out) + "\n")


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under *root* with its mode and content (to prove nothing was written)."""
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }
