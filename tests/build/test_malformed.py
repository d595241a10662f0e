"""Malformed build directories: one-line messages, documented exit codes, nothing written."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuseal.build import dfuzip, make_plan, read_build, run_preflight
from mcuseal.cli import main
from mcuseal.errors import BuildError, McusealError

from .conftest import SAMPLE_A2, SAMPLE_B, SAMPLE_D, SAMPLES, set_config, snapshot

Sample = Callable[[str], Path]


def _other_key(root: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = root.parent / "not-mcuboots-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _bad_zip_manifest(root: Path) -> None:
    zpath = root / "dfu_application.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("manifest.json", '{"files": "nope"}')


def _zip_missing_member(root: Path) -> None:
    zpath = root / "dfu_application.zip"
    manifest = json.loads((root / "dfu_application.zip_manifest.json").read_text())
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))


def _not_a_zip(root: Path) -> None:
    (root / "dfu_application.zip").write_bytes(b"PK not really")


CASES: list[tuple[str, str, Callable[[Path], object], list[str], int, str]] = [
    (
        "missing .config",
        SAMPLE_B,
        lambda r: (r / "zephyr" / ".config").unlink(),
        [],
        2,
        "not a Zephyr build directory",
    ),
    (
        "missing pm.config",
        SAMPLE_B,
        lambda r: (r / "pm.config").unlink(),
        [],
        2,
        "pm.config is missing",
    ),
    (
        "missing input",
        SAMPLE_D,
        lambda r: (r / "hello_world/zephyr/zephyr.bin").unlink(),
        [],
        2,
        "zephyr.bin is missing",
    ),
    (
        "missing MCUboot .config",
        SAMPLE_B,
        lambda r: (r / "mcuboot/zephyr/.config").unlink(),
        [],
        2,
        "no zephyr/.config",
    ),
    (
        "corrupt .config",
        SAMPLE_D,
        lambda r: (r / "hello_world/zephyr/.config").write_text("CONFIG_X\n"),
        [],
        2,
        "not a Kconfig line",
    ),
    (
        "corrupt zephyr.dts",
        SAMPLE_D,
        lambda r: (r / "hello_world/zephyr/zephyr.dts").write_text("/ {"),
        [],
        2,
        "malformed devicetree",
    ),
    (
        "AES size mismatch",
        SAMPLE_D,
        lambda r: set_config(r / "mcuboot/zephyr/.config", CONFIG_BOOT_ENCRYPT_ALG_AES_256=True),
        [],
        1,
        "AES-128",
    ),
    ("bad zip manifest", SAMPLE_B, _bad_zip_manifest, [], 2, "format-version"),
    (
        "corrupt pm.config",
        SAMPLE_B,
        lambda r: (r / "pm.config").write_text("PM_MCUBOOT_NAME=mcuboot\nPM_APP_SIZE 0x200\n"),
        [],
        2,
        "pm.config:2: not a Kconfig line",
    ),
    (
        "pm.config without the primary slot",
        SAMPLE_B,
        lambda r: set_config(r / "pm.config", PM_MCUBOOT_PRIMARY_SIZE=None),
        [],
        2,
        "has no PM_MCUBOOT_PRIMARY_SIZE",
    ),
    (
        "MCUboot listed in domains.yaml but not built",
        SAMPLE_B,
        lambda r: (r / "mcuboot" / "zephyr" / ".config").unlink(),
        [],
        2,
        "image 'mcuboot' listed",
    ),
    ("zip without the listed file", SAMPLE_B, _zip_missing_member, [], 2, "does not hold"),
    ("not a zip", SAMPLE_B, _not_a_zip, [], 2, "cannot read"),
    (
        "bad version string",
        SAMPLE_D,
        lambda r: set_config(
            r / "hello_world/zephyr/.config", CONFIG_MCUBOOT_IMGTOOL_SIGN_VERSION="v1"
        ),
        [],
        2,
        "version",
    ),
    (
        "unsupported extra imgtool arg",
        SAMPLE_D,
        lambda r: set_config(
            r / "hello_world/zephyr/.config", CONFIG_MCUBOOT_EXTRA_IMGTOOL_ARGS="--frob"
        ),
        [],
        2,
        "not supported",
    ),
    (
        "encryption key file missing",
        SAMPLE_A2,
        lambda r: None,
        ["--encrypt", "/nonexistent.pem"],
        2,
        "does not exist",
    ),
    (
        "empty input",
        SAMPLE_D,
        lambda r: (r / "hello_world" / "zephyr" / "zephyr.bin").write_bytes(b""),
        [],
        2,
        "zephyr.bin is empty",
    ),
    (
        "an output name taken by a directory",
        SAMPLE_A2,
        lambda r: (r / "zephyr" / "merged.factory.hex").mkdir(),
        [],
        2,
        "a directory has that name",
    ),
]


@pytest.mark.parametrize(
    ("label", "name", "breaker", "extra", "code", "match"), CASES, ids=[c[0] for c in CASES]
)
def test_malformed_build_dirs(
    sample: Sample,
    capsys: pytest.CaptureFixture[str],
    label: str,
    name: str,
    breaker: Callable[[Path], object],
    extra: list[str],
    code: int,
    match: str,
) -> None:
    root = sample(name)
    breaker(root)
    before = snapshot(root)
    argv = ["seal", "-d", str(root), "--allow-dev-keys", *(extra or ["--encrypt"])]
    assert main(argv) == code
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and match in errors[0], errors
    assert snapshot(root) == before


def test_wrong_key_is_refused(sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    root = sample(SAMPLE_D)
    other = _other_key(root)
    before = snapshot(root)
    assert main(["seal", "-d", str(root), "--encrypt", str(other), "--allow-dev-keys"]) == 1
    err = capsys.readouterr().err
    assert "is not MCUboot's" in err and "CONFIG_BOOT_ENCRYPTION_KEY_FILE" in err
    assert snapshot(root) == before


def test_seal_without_encrypt_is_a_usage_error(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sample(SAMPLE_D)
    assert main(["seal", "-d", str(root)]) == 2
    assert "pass --encrypt" in capsys.readouterr().err


def test_not_a_build_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README").write_text("hello")
    before = snapshot(tmp_path)
    assert main(["seal", "-d", str(tmp_path), "--encrypt"]) == 2
    assert "not a Zephyr build directory" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


@given(st.binary(max_size=300))
def test_manifest_parser_takes_any_bytes(data: bytes) -> None:
    try:
        dfuzip._parse(data.decode("utf-8", "replace"), "m.json")
    except BuildError:
        pass


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_manifest_parser_takes_any_json(doc: object) -> None:
    try:
        manifest = dfuzip._parse(json.dumps(doc), "m.json")
    except BuildError:
        return
    assert isinstance(manifest["files"], list)


def _limit_file_size() -> None:
    # The kernel refuses writes past RLIMIT_FSIZE (EFBIG) even for root: a real write
    # failure half-way through the outputs (merged.factory.hex is the largest).
    resource.setrlimit(resource.RLIMIT_FSIZE, (18000, 18000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_failed_write_leaves_the_build_dir_untouched(sample: Sample) -> None:
    root = sample(SAMPLE_A2)
    before = snapshot(root)
    argv = ["seal", "-d", str(root), "--encrypt", "--allow-dev-keys"]
    done = subprocess.run(
        [sys.executable, "-m", "mcuseal", *argv],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot write" in errors[0] and "merged.factory.hex" in errors[0]
    assert "nothing was written" in errors[0] and "Traceback" not in done.stderr
    assert snapshot(root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_build_dir(sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    root = sample(SAMPLE_B)
    before = snapshot(root)
    dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
    for d in dirs:
        d.chmod(0o555)
    try:
        assert main(["seal", "-d", str(root), "--encrypt", "--allow-dev-keys"]) == 2
    finally:
        for d in dirs:
            d.chmod(0o755)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "make the build directory writable" in errors[0]
    assert snapshot(root) == before


_MUTABLE = (
    "zephyr/.config",
    "pm.config",
    "mcuboot/zephyr/.config",
    "peripheral_lbs/zephyr/.config",
)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from([SAMPLE_A2, SAMPLE_B, SAMPLE_D]),
    file_index=st.integers(min_value=0, max_value=len(_MUTABLE) - 1),
    drop=st.sets(st.integers(min_value=0, max_value=40), max_size=6),
    value=st.one_of(
        st.none(),
        st.sampled_from(["y", "n", "0", "0x0", "-1", '""', '"x y"', "0x7fffffffffff", "word"]),
    ),
)
def test_a_mutated_build_plans_or_fails_cleanly(
    name: str, file_index: int, drop: set[int], value: str | None
) -> None:
    """Lines dropped from, or values changed in, a configuration: a plan or McusealError."""
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        (top / ".west").mkdir()
        (top / "mcuseal").mkdir()
        (top / "mcuseal" / "samples").symlink_to(SAMPLES)
        root = top / "build"
        shutil.copytree(SAMPLES / name / "build", root)
        target = root / _MUTABLE[file_index]
        if target.is_file():
            lines = target.read_text().splitlines()
            kept = [line for i, line in enumerate(lines) if i not in drop]
            if value is not None and kept:
                index = sorted(drop)[0] % len(kept) if drop else 0
                kept[index] = kept[index].split("=", 1)[0] + "=" + value
            target.write_text("\n".join(kept) + "\n")
        try:
            plan = make_plan(read_build(root))
            run_preflight(plan)
        except McusealError:
            pass
