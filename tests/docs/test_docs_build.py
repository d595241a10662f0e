"""The docs site builds with MkDocs in strict mode (any warning fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.docs._blocks import REPO


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (site / "index.html").is_file()
    assert (site / "troubleshooting" / "index.html").is_file()
