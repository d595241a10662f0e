"""MCUboot's published sample keys are recognised by fingerprint, however they are stored."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcuseal.errors import DevKeyError
from mcuseal.keys import dev_key_name, fingerprint, load_key_or_kek, refuse_dev_keys
from mcuseal.keys.devkeys import MCUBOOT_KEY_FINGERPRINTS

from .conftest import SAMPLE_DIR

SAMPLE_FILES = sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix in (".pem", ".b64"))


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_file_is_recognised(path: Path) -> None:
    name = dev_key_name(load_key_or_kek(path))
    assert name is not None
    # The name points at the file (or its private/public twin).
    stem = path.name.replace("-pkcs8", "").replace("-pub", "").replace("-priv", "")
    assert stem.split(".")[0] in name.replace("-priv", "")


def test_denylist_is_exactly_the_sample_files() -> None:
    computed = {fingerprint(load_key_or_kek(p)) for p in SAMPLE_FILES}
    assert computed == set(MCUBOOT_KEY_FINGERPRINTS)


def test_reencoded_sample_key_is_still_recognised(tmp_path: Path) -> None:
    key = serialization.load_pem_private_key((SAMPLE_DIR / "root-ec-p256.pem").read_bytes(), None)
    der = tmp_path / "renamed.der"
    der.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der.chmod(0o600)
    assert dev_key_name(load_key_or_kek(der)) == "MCUboot sample key root-ec-p256.pem"
    raw_kek = tmp_path / "kek.bin"
    raw_kek.write_bytes(base64.b64decode((SAMPLE_DIR / "enc-aes128kw.b64").read_bytes()))
    assert dev_key_name(load_key_or_kek(raw_kek)) == "MCUboot sample KEK enc-aes128kw.b64"


def test_fresh_key_is_not_a_dev_key() -> None:
    assert dev_key_name(ec.generate_private_key(ec.SECP256R1())) is None
    assert refuse_dev_keys(b"\x01" * 16, role="KEK", path="k", allow=False) is None


def test_refused_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    key = load_key_or_kek(SAMPLE_DIR / "enc-ec256-pub.pem")
    with pytest.raises(DevKeyError, match="--allow-dev-keys") as info:
        refuse_dev_keys(key, role="encryption key", path="enc.pem", allow=False)
    assert info.value.exit_code == 2
    assert "enc-ec256-priv.pem" in str(info.value)
    with caplog.at_level(logging.WARNING):
        name = refuse_dev_keys(key, role="encryption key", path="enc.pem", allow=True)
    assert name == "MCUboot sample encryption key enc-ec256-priv.pem"
    assert "DEVELOPMENT KEY" in caplog.text


PROJECT_SAMPLE_KEYS = sorted(
    (Path(__file__).resolve().parents[2] / "samples" / "keys").glob("*.pem")
)


@pytest.mark.parametrize("path", PROJECT_SAMPLE_KEYS, ids=lambda p: p.name)
def test_sign_refuses_the_projects_sample_keys(path: Path, tmp_path: Path) -> None:
    from mcuseal.cli import main

    app = tmp_path / "app.bin"
    app.write_bytes(bytes(64))
    out = tmp_path / "signed.bin"
    role = "-E" if "-enc-" in path.name else "-k"
    args = [role, str(path)] + (["--allow-unsigned"] if role == "-E" else [])
    argv = ["sign", *args, "-H", "0x20", "-S", "0x10000", "-v", "1.0.0", str(app), str(out)]
    assert main(argv) == 2
    assert not out.exists()
    assert main([*argv[:1], "--allow-dev-keys", *argv[1:]]) == 0
