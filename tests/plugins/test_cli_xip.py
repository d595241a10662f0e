"""``mcuseal xip``: engines list, build, inspect, meta, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcuseal.cli import main
from mcuseal.plugins.bee import SW_KEY_LE_WORDS, decode_block

LAYOUT = [
    "--flash-base", "0x60000000", "--slot0", "0x60040000", "--slot1", "0x60240000",
    "--slot-size", "0x200000", "--sector-size", "0x1000", "--page-size", "0x100",
    "--meta0", "0x60440000",
]  # fmt: skip


def test_engines_json_lists_builtins_with_caps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xip", "engines", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in doc["engines"]}
    assert "bee" in rows and rows["bee"]["builtin"]
    assert "config-block" in rows["bee"]["host"]


def test_engines_table_runs_as_a_process() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mcuseal", "xip", "engines"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "bee" in out.stdout


def test_bee_build_then_inspect_then_meta(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "app.signed.bin"
    image.write_bytes(bytes(range(256)) * 64)
    out = tmp_path / "out"
    code = main(["xip", "bee", "build", *LAYOUT, "--image", str(image), "-o", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "UNVERIFIED" in err
    block = (out / "bee_cfg.bin").read_bytes()
    assert decode_block(block, SW_KEY_LE_WORDS).prdb.fac_count == 1
    assert main(["xip", "bee", "inspect", str(out / "metadata_slot0.bin"), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["valid"] and verdict["fields"]["trailer"] == "magic (complete)"
    assert main(["xip", "meta", "inspect", str(out / "metadata_slot0.bin"), "--engine", "bee"]) == 0
    assert "magic (MCUXpresso SDK 26.06)" in capsys.readouterr().out


def test_meta_build_and_incomplete_sector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = tmp_path / "cfg.bin"
    block.write_bytes(bytes(256))
    sector = tmp_path / "sector.bin"
    args = ["xip", "meta", "build", str(block), "-o", str(sector), "--trailer", "md5-slot"]
    assert main(args) == 0
    assert "md5-slot trailer" in capsys.readouterr().out
    assert main(["xip", "meta", "inspect", str(sector), "--config-size", "256", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == ["md5-slot"]
    sector.write_bytes(bytes(256) + b"\xff" * (0x1000 - 256))
    assert main(["xip", "meta", "inspect", str(sector), "--config-size", "256"]) == 1


def test_bad_input_is_one_line_and_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["xip", "bee", "build", *LAYOUT, "--bee-key-mode", "otpmk", "-o", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "never leaves the chip" in err and "\n" not in err
    assert not out.exists()
    assert main(["xip", "bee", "inspect", str(tmp_path / "missing.bin")]) == 2
    dump = tmp_path / "short.bin"
    dump.write_bytes(bytes(10))
    assert main(["xip", "bee", "inspect", str(dump)]) == 2
    assert "too short" in capsys.readouterr().err


def test_a_failed_write_leaves_none_of_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "app.bin"
    image.write_bytes(bytes(0x400))
    out = tmp_path / "out"
    # The last file cannot be written: the first ones must not be left behind either.
    (out / "slot0_encrypted.bin").mkdir(parents=True)
    args = ["xip", "bee", "build", *LAYOUT, "--image", str(image), "-o", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "it is a folder" in err and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["slot0_encrypted.bin"]
    # An output folder that cannot be made: one line, nothing written.
    (tmp_path / "plain").write_bytes(b"")
    args = [
        "xip",
        "bee",
        "build",
        *LAYOUT,
        "--image",
        str(image),
        "-o",
        str(tmp_path / "plain" / "x"),
    ]
    assert main(args) == 2
    assert "cannot create output folder" in capsys.readouterr().err
