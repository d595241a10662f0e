"""Regressions for divergences from ``imgtool sign`` 2.5.0 found by the differential fuzzer.

Each row is an argument list imgtool accepts; ``mcuseal sign`` must write the same bytes (the
rows use Ed25519 or no signature, so nothing is random) and print the expected warning.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from imgtool.main import imgtool

from .conftest import HEADER, Keys, run_cli

Row = tuple[str, Callable[[Keys], list[object]], str]

ROWS: list[Row] = [
    ("--clear without -E is ignored", lambda k: ["-k", k.ed25519, "--clear"],
     "--clear has no effect without -E"),
    ("-M 0: no swap status area", lambda k: ["-k", k.ed25519, "-M", "0", "--pad"], ""),
    ("--vector-to-sign digest, padded and confirmed like an image", lambda k: [
        "-k", k.ed25519, "--vector-to-sign", "digest", "--confirm", "--max-align", "16"], ""),
    ("--vector-to-sign payload, overwrite-only pad, no key", lambda k: [
        "--vector-to-sign", "payload", "--pad", "--overwrite-only", "-R", "0"], ""),
    ("--pure without a key: SHA-256 and SIG_PURE", lambda k: ["--pure"], ""),
]  # fmt: skip


@pytest.mark.parametrize(("name", "extra", "warning"), ROWS, ids=[r[0] for r in ROWS])
def test_mcuseal_writes_what_imgtool_writes(
    keys: Keys,
    app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    extra: Callable[[Keys], list[object]],
    warning: str,
) -> None:
    args = ["-H", hex(HEADER), "-S", "0x20000", "-v", "1.2.3", *map(os.fspath, extra(keys))]
    theirs, ours = tmp_path / "imgtool.bin", tmp_path / "mcuseal.bin"
    result = CliRunner().invoke(imgtool, ["sign", *map(str, args), str(app), str(theirs)])
    assert result.exit_code == 0, result.output
    assert run_cli(["sign", *args, app, ours]) == 0
    assert ours.read_bytes() == theirs.read_bytes()
    err = capsys.readouterr().err
    assert f"warning: {warning}" in err if warning else "warning" not in err


def test_empty_hex_input_with_pad_header(keys: Keys, tmp_path: Path) -> None:
    """A .hex input without data: imgtool signs an empty payload (no base address)."""
    empty = tmp_path / "empty.hex"
    empty.write_text(":00000001FF\n")
    args = ["--pad-header", "-H", "0x200", "-S", "0x20000", "-v", "1.0", "-k", str(keys.ed25519)]
    theirs, ours = tmp_path / "imgtool.bin", tmp_path / "mcuseal.bin"
    result = CliRunner().invoke(imgtool, ["sign", *args, str(empty), str(theirs)])
    assert result.exit_code == 0, result.output
    assert run_cli(["sign", *args, empty, ours]) == 0
    assert ours.read_bytes() == theirs.read_bytes()
    # Without an address in the input, a .hex output needs -x, in both tools.
    assert run_cli(["sign", *args, empty, tmp_path / "out.hex"]) == 2
    assert not (tmp_path / "out.hex").exists()


def test_vector_to_sign_hex_output(keys: Keys, app: Path, tmp_path: Path) -> None:
    """A .hex OUTFILE gets the vector as Intel HEX at the image address (and trailer rows)."""
    args = ["-H", hex(HEADER), "-S", "0x20000", "-v", "1.0", "-x", "0x8000", "--test"]
    args += ["-k", str(keys.ed25519), "--vector-to-sign", "digest"]
    theirs, ours = tmp_path / "imgtool.hex", tmp_path / "mcuseal.hex"
    result = CliRunner().invoke(imgtool, ["sign", *args, str(app), str(theirs)])
    assert result.exit_code == 0, result.output
    assert run_cli(["sign", *args, app, ours]) == 0
    assert ours.read_text() == theirs.read_text()
