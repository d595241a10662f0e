"""'mcuseal xip otfad export' (OTFAD plugin) writes what 'nxpimage otfad export' writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcuseal.cli import main
from tests.plugins.spsdk_oracle import run_both

pytest.importorskip(
    "mcuseal_otfad",
    reason="the OTFAD sample plugin is not installed (pip install ./samples/otfad-plugin)",
)
VECTORS = Path(__file__).resolve().parents[2] / "samples" / "otfad-plugin" / "tests" / "vectors"

# One SPSDK configuration per family group: RT1010, RT116x/117x, RT118x, RT5xx, RT6xx.
CASES = [
    ("otfad_rt1010_scramble.yaml", ()),
    ("otfad_rt1160.yaml", ()),
    ("otfad_rt1170_scramble.yaml", ("-a", "0x400")),
    ("otfad_rt1180.yaml", ()),
    ("otfad_rt5xx.yaml", ()),
    ("otfad_rt6xx.yaml", ()),
]


@pytest.mark.parametrize(("config", "extra"), CASES, ids=[c[0][6:-5] for c in CASES])
def test_same_files_as_nxpimage(tmp_path: Path, config: str, extra: tuple[str, ...]) -> None:
    ours, theirs = run_both("otfad", VECTORS, config, tmp_path, *extra)
    assert sorted(ours) == sorted(theirs)
    assert any(name.endswith("readme.txt") for name in theirs)
    for name in theirs:
        assert ours[name] == theirs[name], name


def test_engines_lists_the_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xip", "engines", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["engines"]}
    assert not rows["otfad"]["builtin"]
    assert rows["otfad"]["distribution"].startswith("mcuseal-otfad")
    assert "config-block" in rows["otfad"]["device_only"]


def test_hex_output_is_refused_without_partial_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(VECTORS, tmp_path / "cfg")
    cfg = tmp_path / "cfg" / "otfad_rt1160.yaml"
    cfg.write_text(cfg.read_text() + "\noutput_format: hex\n")
    assert main(["xip", "otfad", "export", "-c", str(cfg)]) == 2
    assert "binary files only" in capsys.readouterr().err
    assert not (tmp_path / "cfg" / "otfad_rt1160_outputs").exists()


def test_disable_env_blocks_the_real_plugin() -> None:
    env = {**os.environ, "MCUSEAL_DISABLE_PLUGINS": "otfad"}
    done = subprocess.run(
        [sys.executable, "-m", "mcuseal", "xip", "otfad", "export", "-c", "x.yaml"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: no engine 'otfad' (plugin 'otfad' was skipped: disabled by "
        "MCUSEAL_DISABLE_PLUGINS); registered engines: bee, iped, npx"
    )
