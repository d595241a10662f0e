"""The README's first set-up command, on a fresh ``git clone``: a new virtual environment,
a plain (non-editable) ``pip install .`` without extras, and ``mcuseal demo``.

It proves the demo's build data ships as package data and that the base dependencies
are enough.  pip resolves the dependencies through the machine's package index and
cache, so this is the suite's one slow, index-using test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs._blocks import REPO, blocks


def setup_command() -> str:
    """The one-line command of the README's "fresh machine" block (marked ``setup``)."""
    readme = REPO / "README.md"
    lines = readme.read_text().splitlines()
    marker = lines.index("<!-- setup: demo -->")
    block = next(b for b in blocks(readme) if b.line == marker + 2)
    commands = [line for line in block.text.splitlines() if line.strip()]
    assert len(commands) == 1, commands
    return commands[0]


def test_setup_command_is_one_line_ending_in_the_demo() -> None:
    command = setup_command()
    assert command.startswith("python3 -m venv .venv && ")
    assert " install . " in command and "[" not in command  # no extras
    assert command.endswith("mcuseal demo")


@pytest.mark.install
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_fresh_clone_installs_and_runs_the_demo(tmp_path: Path) -> None:
    clone = tmp_path / "mcuseal"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    # 'python3' in the README is this interpreter (>= 3.10); its venv is made from the base.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-e", "-c", setup_command()],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "what the device runs now" in done.stdout
    assert done.stdout.count("confirmed") >= 2
    # Installed as a copy, not as a link to the clone: the data came from the wheel.
    found = list((clone / ".venv" / "lib").glob("python3*/site-packages/mcuseal/data/demo/build"))
    assert found and (found[0] / "zephyr" / ".config").is_file()
    assert not list((clone / ".venv" / "lib").glob("python3*/site-packages/__editable__*mcuseal*"))
