"""The CLI with keys in a SoftHSM2 token: sign, verify, decrypt, getpub, key fingerprint."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from imgtool.main import imgtool

from mcuseal.cli import main
from mcuseal.errors import EXIT_BAD_INPUT
from mcuseal.image import ParsedImage, TlvType
from mcuseal.keys import pkcs11 as p11
from tests.build.conftest import sample, workspace  # noqa: F401
from tests.keys.softhsm import USER_PIN, SoftHsm
from tests.west_ext.test_seal_west import west  # noqa: F401

pytestmark = pytest.mark.usefixtures("pin_env")

SIGNING = ["sign-p256", "sign-p384", "sign-rsa2048", "sign-rsa3072", "sign-ed25519"]


def _skip_without_ed25519(softhsm: SoftHsm, label: str) -> None:
    if "ed25519" in label and not softhsm.has_ed25519:
        pytest.skip("this SoftHSM build has no CKM_EC_EDWARDS_KEY_PAIR_GEN/CKM_EDDSA")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "zephyr.bin"
    path.write_bytes(os.urandom(3000))
    return path


def _cli(*args: object) -> int:
    return main([str(a) for a in args])


def _sign_args(app: Path, out: Path) -> list[object]:
    return ["sign", "--pad-header", "-H", "0x200", "-S", "0x10000", "-v", "1.2.3", app, out]


def _getpub(softhsm: SoftHsm, label: str, out: Path) -> Path:
    code = _cli("getpub", "-k", softhsm.uri(label), "--pkcs11-module", softhsm.module, "-o", out)
    assert code == 0
    return out


@pytest.mark.parametrize("label", SIGNING)
def test_signed_image_passes_mcuseal_and_imgtool_verify(
    softhsm: SoftHsm, app: Path, tmp_path: Path, label: str
) -> None:
    _skip_without_ed25519(softhsm, label)
    image = tmp_path / "signed.bin"
    uri = softhsm.uri(label)
    assert _cli(*_sign_args(app, image), "-k", uri, "--pkcs11-module", softhsm.module) == 0
    public = _getpub(softhsm, label, tmp_path / "pub.pem")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert _cli("verify", image, "-k", public) == 0
    # The token's public key works as a trusted key directly, too.
    assert _cli("verify", image, "-k", uri, "--pkcs11-module", softhsm.module) == 0
    result = CliRunner().invoke(imgtool, ["verify", "-k", str(public), str(image)])
    assert result.exit_code == 0, result.output
    assert "Image was correctly validated" in result.output


@pytest.mark.parametrize(
    ("signing", "encryption", "tlv"),
    [
        ("sign-p256", "enc-p256", TlvType.ENC_EC256),
        ("sign-rsa2048", "enc-rsa2048", TlvType.ENC_RSA2048),
    ],
)
def test_encrypted_image_decrypts_with_the_device_key(
    softhsm: SoftHsm,
    app: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    signing: str,
    encryption: str,
    tlv: TlvType,
) -> None:
    monkeypatch.setenv(p11.MODULE_ENV, softhsm.module)
    image = tmp_path / "signed.encrypted.bin"
    # The signing key and the device's public encryption key both come from the token.
    code = _cli(*_sign_args(app, image), "-k", softhsm.uri(signing), "-E", softhsm.uri(encryption))
    assert code == 0
    device = tmp_path / "device.pem"
    device.write_bytes(
        softhsm.device_keys[encryption].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    device.chmod(0o600)
    assert ParsedImage.loads(image.read_bytes()).find(tlv) is not None
    verify = ["verify", image, "-k", softhsm.uri(signing), "-E", device, "--require-encrypted"]
    assert _cli(*verify) == 0
    plain = tmp_path / "plain.bin"
    assert _cli("decrypt", image, "-E", device, "-o", plain) == 0
    payload = app.read_bytes()
    assert plain.read_bytes()[: len(payload)] == payload


def test_getpub_prints_pem_on_stdout(softhsm: SoftHsm, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("getpub", "-k", softhsm.uri("sign-p256"), "--pkcs11-module", softhsm.module) == 0
    out = capsys.readouterr().out
    public = serialization.load_pem_public_key(out.encode())
    with p11.open_signer(softhsm.uri("sign-p256"), module=softhsm.module) as signer:
        assert public == signer.public_key()


def test_getpub_honours_encoding(softhsm: SoftHsm, capsys: pytest.CaptureFixture[str]) -> None:
    uri = softhsm.uri("sign-p256")
    assert _cli("getpub", "-k", uri, "--pkcs11-module", softhsm.module, "-e", "lang-c") == 0
    assert "const unsigned char ecdsa_pub_key[]" in capsys.readouterr().out


def test_fingerprint_matches_the_image_keyhash(
    softhsm: SoftHsm, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "signed.bin"
    uri = softhsm.uri("sign-p384")
    assert _cli(*_sign_args(app, image), "-k", uri, "--pkcs11-module", softhsm.module) == 0
    capsys.readouterr()
    assert _cli("key", "fingerprint", uri, "--pkcs11-module", softhsm.module, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    keyhash = ParsedImage.loads(image.read_bytes()).find(TlvType.KEYHASH)
    assert keyhash is not None
    assert report["keyhash"] == {"sha": 384, "value": keyhash.value.hex()}
    assert report["type"] == "ecdsa-p384"
    assert report["key"] == uri
    assert report["dev_key"] is None


def test_getpriv_refuses_token_keys(softhsm: SoftHsm, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("getpriv", "-k", softhsm.uri("sign-p256")) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "a key inside a PKCS#11 token cannot be exported" in err


@pytest.mark.parametrize(
    ("extra_env", "args", "needle"),
    [
        ({p11.PIN_ENV: "999999"}, [], "wrong PIN for token 'mcuseal-test'"),
        ({}, ["--pkcs11-module", "/nonexistent/lib.so"], "does not exist"),
        (
            {},
            ["--pkcs11-module", "MODULE", "-k", "pkcs11:token=absent;object=x"],
            "no PKCS#11 token",
        ),
        (
            {},
            ["--pkcs11-module", "MODULE", "-k", "pkcs11:token=mcuseal-test;object=nope"],
            "no private key",
        ),
        (
            {},
            ["--pkcs11-module", "MODULE", "-k", "pkcs11:token=mcuseal-test;object=bad-k256"],
            "EC curve",
        ),
        (
            {},
            ["--pkcs11-module", "MODULE", "-k", "pkcs11:token=mcuseal-test;object=x?pin-value=1"],
            "pin-value",
        ),
        (
            {},
            ["--pkcs11-module", "MODULE", "-k", "awskms:alias/x"],
            "no key provider serves 'awskms:'",
        ),
    ],
)
def test_sign_errors_are_one_line_exit_2(
    softhsm: SoftHsm,
    app: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra_env: dict[str, str],
    args: list[str],
    needle: str,
) -> None:
    for name, value in extra_env.items():
        monkeypatch.setenv(name, value)
    args = [softhsm.module if a == "MODULE" else a for a in args]
    if "-k" not in args:
        args += ["-k", softhsm.uri("sign-p256")]
        if "--pkcs11-module" not in args:
            args += ["--pkcs11-module", softhsm.module]
    out = tmp_path / "never.bin"
    assert _cli(*_sign_args(app, out), *args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".never")] == []


def test_cli_subprocess_signs_with_pin_source(softhsm: SoftHsm, app: Path, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(0o600)
    image = tmp_path / "signed.bin"
    env = {k: v for k, v in softhsm.env().items() if k != p11.PIN_ENV}
    env[p11.MODULE_ENV] = softhsm.module
    uri = softhsm.uri("sign-p256") + f"?pin-source={pin_file}"
    result = subprocess.run(
        [sys.executable, "-m", "mcuseal", *map(str, _sign_args(app, image)), "-k", uri],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert _cli("verify", image, "-k", uri, "--pkcs11-module", softhsm.module) == 0


def test_pin_prompt_on_a_terminal(softhsm: SoftHsm, app: Path, tmp_path: Path) -> None:
    import pty
    import select

    image = tmp_path / "signed.bin"
    env = {k: v for k, v in softhsm.env().items() if k != p11.PIN_ENV}
    env[p11.MODULE_ENV] = softhsm.module
    argv = [sys.executable, "-m", "mcuseal", *map(str, _sign_args(app, image))]
    argv += ["-k", softhsm.uri("sign-p256")]
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    seen = b""
    try:
        while b"User PIN for token 'mcuseal-test':" not in seen:
            ready, _, _ = select.select([primary], [], [], 30)
            assert ready, f"no PIN prompt; output so far: {seen!r}"
            seen += os.read(primary, 1024)
        os.write(primary, USER_PIN.encode() + b"\n")
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(primary)
    assert image.exists()
    assert (
        _cli("verify", image, "-k", softhsm.uri("sign-p256"), "--pkcs11-module", softhsm.module)
        == 0
    )


def test_seal_a_build_with_a_token_key(
    softhsm: SoftHsm,
    sample: Callable[[str], Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.build.conftest import KEYS, SAMPLE_D, set_config

    root = sample(SAMPLE_D)
    uri = softhsm.uri("sign-p256")
    keys = ["-k", uri, "--pkcs11-module", softhsm.module]
    args = ["seal", "-d", root, "--encrypt", "--allow-dev-keys", *keys, "--json"]
    # MCUboot was built with another signing key: the preflight reads the token's public key
    # and refuses (the device would reject the update).
    assert _cli("check", "-d", root, "--encrypt", *keys) == 1
    assert "is not the one MCUboot verifies with" in capsys.readouterr().out
    assert _cli(*args) == 1
    assert "is not the one MCUboot verifies with" in capsys.readouterr().err
    # Rebuild MCUboot with the token's public key (as docs/keys.md describes): accepted.
    public = _getpub(softhsm, "sign-p256", tmp_path / "sign-pub.pem")
    for config in (root / "mcuboot" / "zephyr" / ".config", root / "zephyr" / ".config"):
        name = "CONFIG_BOOT" if "mcuboot" in str(config) else "SB_CONFIG_BOOT"
        set_config(config, **{f"{name}_SIGNATURE_KEY_FILE": str(public)})
    capsys.readouterr()
    assert _cli(*args) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert "dfu" in [o["role"] for o in report["outputs"]]
    assert report["dev_keys"] == ["mcuseal sample key samples/keys/sample-enc-ec256-priv.pem"]
    dfu = root / "hello_world" / "zephyr" / "zephyr.signed.encrypted.bin"
    enc = KEYS / "sample-enc-ec256-priv.pem"
    assert _cli("verify", dfu, "-k", public, "-E", enc, "--require-encrypted", "--strict") == 0


@pytest.fixture
def token_env(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    """Module and PIN in the environment, before a subprocess fixture copies it."""
    monkeypatch.setenv(p11.MODULE_ENV, softhsm.module)
    monkeypatch.setenv(p11.PIN_ENV, USER_PIN)


def test_west_seal_with_a_token_key(
    token_env: None,
    west: Callable[..., subprocess.CompletedProcess[str]],  # noqa: F811
    softhsm: SoftHsm,
    tmp_path: Path,
) -> None:
    top = tmp_path / "ws"
    build = top / "builds" / "d"
    shutil.copytree(top / "mcuseal" / "samples" / "d_zephyr41_nrf52840" / "build", build)
    uri = softhsm.uri("sign-p256")
    # MCUboot in the sample trusts another key: -f turns that refusal into a warning.
    proc = west("seal", "-d", str(build), "--encrypt", "--allow-dev-keys", "-k", uri, "-f")
    assert "is not the one MCUboot verifies with" in proc.stderr
    assert USER_PIN not in proc.stdout + proc.stderr
    dfu = build / "hello_world" / "zephyr" / "zephyr.signed.encrypted.bin"
    enc = top / "mcuseal" / "samples" / "keys" / "sample-enc-ec256-priv.pem"
    assert _cli("verify", dfu, "-k", uri, "-E", enc, "--require-encrypted", "--strict") == 0


def test_token_failure_mid_sign_exits_3(softhsm: SoftHsm, app: Path, tmp_path: Path) -> None:
    # A real failure, not a fake: sign opens the token session for -k, then blocks reading
    # the -E KEK from a FIFO; meanwhile the token's storage disappears. SoftHSM reads its
    # configuration once per process, so this runs on a copy of the token, in a child.
    token_dir = tmp_path / "tokens"
    shutil.copytree(softhsm.token_dir, token_dir)
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\n")
    kek = tmp_path / "kek.b64"
    os.mkfifo(kek, 0o600)
    image = tmp_path / "signed.bin"
    env = {**softhsm.env(), "SOFTHSM2_CONF": str(conf), p11.PIN_ENV: USER_PIN}
    env[p11.MODULE_ENV] = softhsm.module
    argv = [sys.executable, "-m", "mcuseal", *map(str, _sign_args(app, image))]
    argv += ["-k", softhsm.uri("sign-p256"), "-E", str(kek)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with open(kek, "wb") as fifo:  # returns once mcuseal opened it: the session is open
            shutil.rmtree(token_dir)
            fifo.write(base64.b64encode(os.urandom(16)) + b"\n")
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    errors = [line for line in err.decode().splitlines() if not line.startswith("warning:")]
    assert errors == [
        "error: token 'mcuseal-test' failed to sign (ObjectHandleInvalid); check the token is "
        "present and its storage/reader works, then retry"
    ]
    assert not image.exists()
