"""The README's sign/verify example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text()
    section = text.split("## Sign, encrypt and verify an image", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell example")
def test_readme_example_runs() -> None:
    env = dict(os.environ)
    # The example puts .venv/bin first; make sure this interpreter's scripts are found too.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MCUSEAL_KEY_PASSWORD", None)
    done = subprocess.run(
        ["bash", "-e", "-c", _example()],
        cwd=README.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ACCEPTED" in done.stdout
    assert "ENCRYPTED" in done.stdout
