"""Malformed build directories: one-line messages, documented exit codes, nothing written."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from mcuseal.build import dfuzip
from mcuseal.cli import main
from mcuseal.errors import BuildError

from .conftest import SAMPLE_A2, SAMPLE_B, SAMPLE_D, set_config, snapshot

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
