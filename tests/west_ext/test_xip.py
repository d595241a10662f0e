"""``west xip`` in a real west 1.5 workspace whose manifest lists this repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Run west with this interpreter (console-script shebangs may point elsewhere).
WEST_CMD = [sys.executable, "-m", "west"]


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A west workspace, made once per module: the tests only read it."""
    tmp_path = tmp_path_factory.mktemp("west")
    pytest.importorskip("west", reason="west is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    # A local clone stands in for the remote: 'west update' fetches from a path, no network.
    upstream = tmp_path / "upstream"
    _git("clone", "-q", "--no-hardlinks", str(ROOT), str(upstream), cwd=tmp_path)
    # Test the checked-out west files, committed or not: overlay them on the clone.
    (upstream / "west_ext").mkdir(exist_ok=True)
    shutil.copy(ROOT / "west-commands.yml", upstream / "west-commands.yml")
    shutil.copy(ROOT / "west_ext" / "xip.py", upstream / "west_ext" / "xip.py")
    _git("add", "-A", cwd=upstream)
    ident = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    _git(*ident, "commit", "-q", "--allow-empty", "-m", "west files under test", cwd=upstream)
    sha = _git("rev-parse", "HEAD", cwd=upstream)
    ws = tmp_path / "ws"
    (ws / "manifest").mkdir(parents=True)
    (ws / "manifest" / "west.yml").write_text(
        "manifest:\n"
        "  projects:\n"
        "    - name: mcuseal\n"
        f"      url: {upstream}\n"
        f"      revision: {sha}\n"
        "      west-commands: west-commands.yml\n"
        "  self:\n"
        "    path: manifest\n"
    )
    subprocess.run([*WEST_CMD, "init", "-l", "manifest"], cwd=ws, check=True, capture_output=True)
    subprocess.run([*WEST_CMD, "update"], cwd=ws, check=True, capture_output=True)
    return ws


def test_west_xip_engines_and_errors(workspace: Path) -> None:
    done = subprocess.run(
        [*WEST_CMD, "xip", "engines", "--json"], cwd=workspace, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert '"name": "bee"' in done.stdout
    helped = subprocess.run([*WEST_CMD, "help"], cwd=workspace, capture_output=True, text=True)
    assert "NXP encrypted XIP for MCUboot" in helped.stdout
    bad = subprocess.run(
        [*WEST_CMD, "xip", "plan", "--board", "nope"], cwd=workspace, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "no board preset 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_west_and_mcuseal_print_the_same_plan(workspace: Path) -> None:
    args = ["xip", "plan", "--board", "frdm_rw612", "--mode", "flash-remap", "--json"]
    west = subprocess.run([*WEST_CMD, *args], cwd=workspace, capture_output=True, text=True)
    ours = subprocess.run(
        [sys.executable, "-m", "mcuseal", *args], cwd=workspace, capture_output=True, text=True
    )
    assert west.returncode == ours.returncode == 0, west.stderr + ours.stderr
    assert west.stdout == ours.stdout
