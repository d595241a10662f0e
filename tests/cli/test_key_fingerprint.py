"""``mcuseal key fingerprint``: the KEYHASH MCUboot compares, checked against imgtool and images."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from imgtool.main import imgtool

from mcuseal.image import ParsedImage, TlvType

from .conftest import Keys, run_cli


def _report(capsys: pytest.CaptureFixture[str], *args: object) -> dict[str, object]:
    capsys.readouterr()
    assert run_cli(["key", "fingerprint", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["p256", "rsa2048", "ed25519"])
def test_keyhash_is_imgtools_getpubhash(
    keys: Keys, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    key = getattr(keys, name)
    result = CliRunner().invoke(imgtool, ["getpubhash", "-k", str(key), "-e", "raw"])
    assert result.exit_code == 0, result.output
    report = _report(capsys, key)
    assert report["keyhash"] == {"sha": 256, "value": result.stdout_bytes.hex()}
    assert report["fingerprint_sha256"] == result.stdout_bytes.hex()


@pytest.mark.parametrize(
    ("name", "sign_args", "sha"),
    [
        ("p384", [], 384),
        ("ed25519", ["--sha", "512"], 512),
        ("ed25519", ["--pure"], 512),
        ("rsa2048", [], 256),
    ],
)
def test_keyhash_matches_the_image(
    keys: Keys,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    sign_args: list[str],
    sha: int,
) -> None:
    key = getattr(keys, name)
    app, image = tmp_path / "app.bin", tmp_path / "signed.bin"
    app.write_bytes(os.urandom(1024))
    slot = ["--pad-header", "-H", "0x200", "-S", "0x10000", "-v", "1.0.0"]
    assert run_cli(["sign", "-k", key, *slot, *sign_args, app, image]) == 0
    keyhash = ParsedImage.loads(image.read_bytes()).find(TlvType.KEYHASH)
    assert keyhash is not None
    extra = ["--sha", str(sha)] if sign_args else []
    report = _report(capsys, key, *extra)
    assert report["keyhash"] == {"sha": sha, "value": keyhash.value.hex()}


def test_encryption_keys_have_no_keyhash(keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(capsys, keys.x25519_pub)
    assert report["type"] == "x25519" and report["keyhash"] is None
    kek = _report(capsys, keys.kek128)
    assert kek["type"] == "aes-kw-128" and kek["keyhash"] is None
    raw = base64.b64decode(keys.kek128.read_bytes())
    assert kek["fingerprint_sha256"] == hashlib.sha256(raw).hexdigest()


def test_sample_key_is_named(keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(capsys, keys.sample("root-ec-p256.pem"))
    assert report["dev_key"] == "MCUboot sample key root-ec-p256.pem"
    capsys.readouterr()
    assert run_cli(["key", "fingerprint", keys.sample("root-ec-p256.pem")]) == 0
    assert "WARNING: this is the published MCUboot sample key" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "sha", "needle"),
    [
        ("p256", "384", "ecdsa-p256 images are hashed with SHA-256"),
        ("x25519", "256", "--sha applies to signing keys"),
    ],
)
def test_bad_sha(
    keys: Keys, capsys: pytest.CaptureFixture[str], name: str, sha: str, needle: str
) -> None:
    assert run_cli(["key", "fingerprint", getattr(keys, name), "--sha", sha]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
