"""``mcuseal check`` in-process and as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mcuseal.cli import main

from .conftest import SAMPLE_A, SAMPLE_B, SAMPLE_C, SAMPLE_D, snapshot

Sample = Callable[[str], Path]


def test_check_passes_and_prints_the_plan(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_B)
    before = snapshot(root)
    assert main(["check", "-d", str(root)]) == 0
    out = capsys.readouterr().out
    assert "ncs-sysbuild (NCS 2.7.0" in out and "preflight passed" in out
    assert "[nrf5340-reset-vector]" in out  # codes are not eaten as markup
    assert snapshot(root) == before


def test_check_refuses_with_exit_1_and_json(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_C)
    assert main(["check", "-d", str(root), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["flavour"] == "ncs-sysbuild"
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["nrf5340-reset-vector"]
    app = doc["images"][0]
    assert (app["slot_size"], app["header_size"], app["pad_header"]) == (0x78000, 0x200, True)
    assert doc["images"][1]["reuse"].endswith("signed_by_mcuboot_and_b0_ipc_radio.bin")


def test_check_not_a_build_dir_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "-d", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a Zephyr build directory" in err
    assert len(err.strip().splitlines()) == 1


def test_check_subprocess(sample: Sample, workspace: Path) -> None:
    root = sample(SAMPLE_A)
    proc = subprocess.run(
        [sys.executable, "-m", "mcuseal", "check", "-d", str(root), "--json"],
        capture_output=True,
        text=True,
        cwd=workspace,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(f["code"] == "keys-c" for f in doc["findings"])


def test_check_with_explicit_keys(sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    root = sample(SAMPLE_D)
    keys = root.parents[1] / "mcuseal" / "samples" / "keys"
    rc = main(
        [
            "check",
            "-d",
            str(root),
            "--encrypt",
            str(keys / "sample-enc-ec256-priv.pem"),
            "-k",
            str(keys / "sample-sign-ec-p256.pem"),
            "--json",
        ]
    )
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["encryption_key"]["source"] == "--encrypt"
