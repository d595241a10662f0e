"""Blocks marked ``<!-- runnable -->`` in the README and docs/ run as written.

Each block runs in bash (``-e``: the first failing command ends it) in a fresh temporary
directory that is a west top directory holding this repository as the project
``mcuseal``, with this interpreter's scripts first on ``PATH`` (docs/contributing.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs._blocks import REPO, Block, blocks, markdown_files

RUNNABLE = [block for path in markdown_files() for block in blocks(path) if block.runnable]


def test_docs_have_runnable_blocks() -> None:
    assert len(RUNNABLE) >= 10
    assert all(block.lang == "sh" for block in RUNNABLE), "runnable blocks are ```sh blocks"


def _tree_state(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell examples")
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_block_runs(block: Block, tmp_path: Path) -> None:
    top = tmp_path / "ws"
    (top / ".west").mkdir(parents=True)
    (top / ".west" / "config").write_text("[manifest]\npath = mcuseal\nfile = west.yml\n")
    (top / "mcuseal").symlink_to(REPO)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("MCUSEAL_KEY_PASSWORD", "MCUSEAL_DISABLE_PLUGINS", "COLUMNS"):
        env.pop(name, None)
    samples_before = _tree_state(REPO / "samples")
    done = subprocess.run(
        ["bash", "-e", "-c", block.text],
        cwd=top,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == block.exit_code, (
        f"{block.where}: exit {done.returncode}, expected {block.exit_code}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    assert _tree_state(REPO / "samples") == samples_before, f"{block.where} wrote into samples/"
