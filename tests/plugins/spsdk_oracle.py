"""Running SPSDK's ``nxpimage`` (the oracle) and mcuseal side by side on one configuration."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcuseal.cli import main

VECTORS = Path(__file__).parent / "vectors"
NXPIMAGE = Path(sys.executable).with_name("nxpimage")


def check_vectors(folder: Path) -> None:
    """Fail if a copied vector file no longer matches SHA256SUMS."""
    for line in (VECTORS / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        if name.startswith(folder.name + "/"):
            data = (VECTORS / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, name


def tree(root: Path) -> dict[str, bytes]:
    """Every file under *root*, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def run_nxpimage(*args: str, cwd: Path) -> None:
    if not NXPIMAGE.exists():
        pytest.skip(f"SPSDK's nxpimage is not installed beside {sys.executable}")
    done = subprocess.run(
        [str(NXPIMAGE), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run_both(
    engine: str, config_dir: Path, config: str, tmp_path: Path, *extra: str
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Copy *config_dir* twice; run nxpimage in one copy and mcuseal in the other.

    Returns the new files each tool wrote (relative paths), so names and bytes compare.
    """
    # Same-length folder names: readme.txt embeds absolute paths in fixed-width boxes.
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "nxpi"
    shutil.copytree(config_dir, ours_dir)
    shutil.copytree(config_dir, theirs_dir)
    before = set(tree(ours_dir))
    run_nxpimage(engine, "export", "-c", config, *extra, cwd=theirs_dir)
    assert main(["xip", engine, "export", "-c", str(ours_dir / config), *extra]) == 0
    ours = {k: v for k, v in tree(ours_dir).items() if k not in before}
    theirs = {k: v for k, v in tree(theirs_dir).items() if k not in before}
    mine, other = str(ours_dir).encode(), str(theirs_dir).encode()
    return {k: v.replace(mine, other) for k, v in ours.items()}, theirs
