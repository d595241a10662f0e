"""PKCS#11 signing and public-key lookup against a real SoftHSM2 token."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from mcuseal.errors import EXIT_BAD_INPUT, EXIT_DEVICE, KeyError_, TokenIOError
from mcuseal.keys import pkcs11 as p11
from tests.keys.softhsm import SIGNING_KEYS, SPARE_TOKEN, TOKEN, USER_PIN, SoftHsm

pytestmark = pytest.mark.usefixtures("pin_env")


def _skip_without_ed25519(softhsm: SoftHsm, label: str) -> None:
    if "ed25519" in label and not softhsm.has_ed25519:
        pytest.skip("this SoftHSM build has no CKM_EC_EDWARDS_KEY_PAIR_GEN/CKM_EDDSA")


def _bad(exc: pytest.ExceptionInfo[KeyError_], *needles: str, code: int = EXIT_BAD_INPUT) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert exc.value.exit_code == code
    assert USER_PIN not in message


# -- keys are generated inside the token and cannot leave it -------------------------------


@pytest.mark.parametrize("label", sorted(SIGNING_KEYS))
def test_signing_keys_are_not_extractable(softhsm: SoftHsm, label: str) -> None:
    import pkcs11

    _skip_without_ed25519(softhsm, label)
    token = pkcs11.lib(softhsm.module).get_token(token_label=TOKEN)
    with token.open(user_pin=USER_PIN) as session:
        key = session.get_key(pkcs11.ObjectClass.PRIVATE_KEY, label=label)
        assert key[pkcs11.Attribute.EXTRACTABLE] is False
        assert key[pkcs11.Attribute.NEVER_EXTRACTABLE] is True
        assert key[pkcs11.Attribute.SENSITIVE] is True
        assert key[pkcs11.Attribute.LOCAL] is True  # generated on the token, not imported
        with pytest.raises(pkcs11.AttributeSensitive):
            key[pkcs11.Attribute.VALUE if "rsa" not in label else pkcs11.Attribute.PRIVATE_EXPONENT]


# -- signatures verify with cryptography -----------------------------------------------------


def _digest(data: bytes, size: int) -> bytes:
    return {32: hashlib.sha256, 48: hashlib.sha384, 64: hashlib.sha512}[size](data).digest()


@pytest.mark.parametrize(
    ("label", "digest_size", "kind"),
    [
        ("sign-p256", 32, "ecdsa-p256"),
        ("sign-p384", 48, "ecdsa-p384"),
        ("sign-rsa2048", 32, "rsa-2048"),
        ("sign-rsa3072", 32, "rsa-3072"),
        ("sign-ed25519", 32, "ed25519"),
    ],
)
def test_sign_verifies_with_cryptography(
    softhsm: SoftHsm, label: str, digest_size: int, kind: str
) -> None:
    _skip_without_ed25519(softhsm, label)
    digest = _digest(b"mcuseal image", digest_size)
    with p11.open_signer(softhsm.uri(label), module=softhsm.module) as signer:
        assert signer.key_kind.value == kind
        signature = signer.sign(digest)
        public_bytes = signer.public_key_bytes()
    public = serialization.load_der_public_key(public_bytes)
    if isinstance(public, ec.EllipticCurvePublicKey):
        # MCUboot's format: DER SubjectPublicKeyInfo; the TLV value: a DER ECDSA signature.
        assert public_bytes == public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        utils.decode_dss_signature(signature)
        algorithm = {32: hashes.SHA256(), 48: hashes.SHA384()}[digest_size]
        public.verify(signature, digest, ec.ECDSA(utils.Prehashed(algorithm)))
    elif isinstance(public, rsa.RSAPublicKey):
        # MCUboot's format for RSA: DER PKCS#1 RSAPublicKey.
        assert public_bytes == public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        assert len(signature) == public.key_size // 8
        public.verify(
            signature,
            digest,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            utils.Prehashed(hashes.SHA256()),
        )
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        assert len(signature) == 64
        public.verify(signature, digest)


def test_ed25519_pure_signs_the_whole_region(softhsm: SoftHsm) -> None:
    _skip_without_ed25519(softhsm, "ed25519")
    region = bytes(range(256)) * 40  # --pure hands the whole header+payload+TLVs over
    with p11.open_signer(softhsm.uri("sign-ed25519"), module=softhsm.module) as signer:
        signature = signer.sign(region)
        public = signer.public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(signature, region)


def test_uri_by_id_selects_the_key(softhsm: SoftHsm) -> None:
    uri = f"pkcs11:token={TOKEN};id=%04;type=private"
    with p11.open_signer(uri, module=softhsm.module) as signer:
        assert signer.key_kind.value == "ecdsa-p384"


def test_rsa_digest_must_be_sha256(softhsm: SoftHsm) -> None:
    with (
        p11.open_signer(softhsm.uri("sign-rsa2048"), module=softhsm.module) as signer,
        pytest.raises(KeyError_) as exc,
    ):
        signer.sign(b"\x00" * 48)
    _bad(exc, "SHA-256 digest")


# -- public keys for getpub and -E ---------------------------------------------------------


def test_public_key_without_type_is_the_public_object(softhsm: SoftHsm) -> None:
    public = p11.load_public_key(softhsm.uri("sign-p256"), module=softhsm.module)
    with p11.open_signer(softhsm.uri("sign-p256"), module=softhsm.module) as signer:
        assert signer.public_key_bytes() == public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def test_public_key_needs_no_pin(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(p11.PIN_ENV)
    public = p11.load_public_key(softhsm.uri("enc-p256"), module=softhsm.module)
    device = softhsm.device_keys["enc-p256"]
    assert public == device.public_key()


def test_public_key_of_a_private_uri(softhsm: SoftHsm) -> None:
    public = p11.load_public_key(softhsm.uri("sign-rsa2048", type="private"), module=softhsm.module)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048


def test_imported_rsa_encryption_key(softhsm: SoftHsm) -> None:
    public = p11.load_public_key(softhsm.uri("enc-rsa2048"), module=softhsm.module)
    assert public == softhsm.device_keys["enc-rsa2048"].public_key()


def test_rsa_private_key_without_public_object_uses_its_modulus(softhsm: SoftHsm) -> None:
    # The RSA private object carries the modulus; the orphan EC case is an error (below).
    with p11.open_signer(softhsm.uri("sign-rsa2048"), module=softhsm.module) as signer:
        assert isinstance(signer.public_key(), rsa.RSAPublicKey)


# -- where the module and the PIN come from --------------------------------------------------


def test_module_from_environment(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(p11.MODULE_ENV, softhsm.module)
    with p11.open_signer(softhsm.uri("sign-p256")) as signer:
        assert signer.key_kind.value == "ecdsa-p256"


def test_module_option_wins_over_environment(
    softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(p11.MODULE_ENV, "/nonexistent/libnothing.so")
    with p11.open_signer(softhsm.uri("sign-p256"), module=softhsm.module) as signer:
        assert signer.token_label == TOKEN


def test_module_path_in_uri(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("sign-p256") + f"?module-path={softhsm.module}"
    with p11.open_signer(uri) as signer:
        assert signer.key_kind.value == "ecdsa-p256"


def test_module_name_in_uri(softhsm: SoftHsm) -> None:
    found = p11.resolve_module(p11.Pkcs11Uri.loads("pkcs11:?module-name=softhsm2"))
    assert Path(found).name == "libsofthsm2.so"


def test_pin_source_file(softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(p11.PIN_ENV)
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(0o600)
    uri = softhsm.uri("sign-p256") + f"?pin-source=file:{pin_file}"
    with p11.open_signer(uri, module=softhsm.module) as signer:
        assert signer.key_kind.value == "ecdsa-p256"


def test_pin_source_readable_by_others_warns(
    softhsm: SoftHsm, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN)
    pin_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        pin = p11.resolve_pin(p11.Pkcs11Uri.loads(f"pkcs11:?pin-source={pin_file}"))
    assert pin == USER_PIN
    assert "readable by group/others" in caplog.text
    assert USER_PIN not in caplog.text


def test_pin_value_refused_without_flag(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("sign-p256") + f"?pin-value={USER_PIN}"
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(uri, module=softhsm.module)
    _bad(exc, "pin-value", "--allow-pin-in-uri", p11.PIN_ENV)


def test_pin_value_refused_for_public_keys_too(softhsm: SoftHsm) -> None:
    uri = softhsm.uri("enc-p256") + f"?pin-value={USER_PIN}"
    with pytest.raises(KeyError_) as exc:
        p11.load_public_key(uri, module=softhsm.module)
    _bad(exc, "pin-value", "--allow-pin-in-uri")


def test_pin_value_with_flag_warns(
    softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(p11.PIN_ENV)
    uri = softhsm.uri("sign-p256") + f"?pin-value={USER_PIN}"
    with (
        caplog.at_level(logging.DEBUG),
        p11.open_signer(uri, module=softhsm.module, allow_pin_in_uri=True) as signer,
    ):
        signer.sign(b"\x11" * 32)
    assert "PIN from the PKCS#11 URI" in caplog.text
    assert USER_PIN not in caplog.text


# -- error paths: one line, exit 2 (bad input) or 3 (token failure) --------------------------


def test_wrong_pin(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(p11.PIN_ENV, "000000")
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri("sign-p256"), module=softhsm.module)
    _bad(exc, "wrong PIN for token 'mcuseal-test'", p11.PIN_ENV)
    assert "000000" not in str(exc.value)


def test_no_pin_available(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(p11.PIN_ENV)
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri("sign-p256"), module=softhsm.module, prompt=True)
    _bad(exc, "needs the user PIN", p11.PIN_ENV, "pin-source")


def test_missing_token(softhsm: SoftHsm) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri("sign-p256", token="no-such-token"), module=softhsm.module)
    _bad(exc, "no PKCS#11 token matches token='no-such-token'", "'mcuseal-test'")


def test_two_tokens_match(softhsm: SoftHsm) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.open_signer("pkcs11:object=sign-p256", module=softhsm.module)
    _bad(exc, "2 PKCS#11 tokens match", "add token=")


def test_spare_token_selected_by_label(softhsm: SoftHsm) -> None:
    with p11.open_signer(
        softhsm.uri("sign-p256", token=SPARE_TOKEN), module=softhsm.module
    ) as signer:
        assert signer.token_label == SPARE_TOKEN


@pytest.mark.parametrize(
    ("label", "extra", "needles"),
    [
        ("no-such-key", {}, ["no private key object='no-such-key' on token 'mcuseal-test'"]),
        ("dup", {}, ["2 private keys match object='dup'", "id="]),
        ("sign-p256", {"type": "public"}, ["cannot sign with a public key"]),
        ("sign-p256", {"type": "cert"}, ["type=cert is not a key"]),
        ("sign-p256", {"type": "secret-key"}, ["type=secret-key is not a key"]),
        ("sign-p256", {"type": "data"}, ["type=data is not a key"]),
        ("orphan-p256", {}, ["no public key object with id=12", "MCUboot needs the public key"]),
        ("nosign-p256", {}, ["does not allow key 'nosign-p256' id=21 to sign", "CKA_SIGN"]),
    ],
)
def test_open_signer_refuses(
    softhsm: SoftHsm, label: str, extra: dict[str, str], needles: list[str]
) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri(label, **extra), module=softhsm.module)
    _bad(exc, *needles)


def test_missing_public_object(softhsm: SoftHsm) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.load_public_key(softhsm.uri("no-such-key"), module=softhsm.module)
    _bad(exc, "no public key object='no-such-key'")


def test_missing_module(softhsm: SoftHsm) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri("sign-p256"), module="/nonexistent/libp11.so")
    _bad(exc, "PKCS#11 module /nonexistent/libp11.so (from --pkcs11-module) does not exist")


def test_not_a_module(softhsm: SoftHsm, tmp_path: Path) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"not an ELF file")
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri("sign-p256"), module=fake)
    _bad(exc, f"cannot load PKCS#11 module {fake}")


def test_no_module_configured(softhsm: SoftHsm) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri("sign-p256"))
    _bad(exc, "no PKCS#11 module", "--pkcs11-module", p11.MODULE_ENV)


@pytest.mark.parametrize(
    ("label", "needle"),
    [
        ("bad-k256", "EC curve MCUboot cannot use"),
        ("bad-rsa1024", "RSA-1024; MCUboot takes RSA-2048 or RSA-3072"),
    ],
)
def test_key_type_the_image_format_cannot_use(softhsm: SoftHsm, label: str, needle: str) -> None:
    with pytest.raises(KeyError_) as exc:
        p11.open_signer(softhsm.uri(label), module=softhsm.module)
    _bad(exc, needle)
    with pytest.raises(KeyError_) as exc:
        p11.load_public_key(softhsm.uri(label), module=softhsm.module)
    _bad(exc, needle)


def test_public_object_of_another_pair_is_caught(softhsm: SoftHsm) -> None:
    with (
        p11.open_signer(softhsm.uri("mismatch"), module=softhsm.module) as signer,
        pytest.raises(KeyError_) as exc,
    ):
        signer.sign(b"\x22" * 32)
    _bad(exc, "does not verify with the public key", "another key pair")


def test_extractable_key_warns(softhsm: SoftHsm, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING),
        p11.open_signer(softhsm.uri("exportable-p256"), module=softhsm.module),
    ):
        pass
    assert "can be exported (CKA_EXTRACTABLE=True" in caplog.text


_IO_FAILURE_SCRIPT = textwrap.dedent(
    """
    import shutil, sys
    from mcuseal.errors import McusealError
    from mcuseal.keys.pkcs11 import open_signer
    module, uri, token_dir = sys.argv[1:]
    signer = open_signer(uri, module=module)
    shutil.rmtree(token_dir)  # the token's storage disappears mid-session
    try:
        signer.sign(b"\\x33" * 32)
    except McusealError as err:
        print(type(err).__name__, err.exit_code, err, sep="|")
    """
)


def test_token_failure_is_exit_3(softhsm: SoftHsm, tmp_path: Path) -> None:
    # SoftHSM reads its configuration once per process, and a vanished token directory
    # breaks it for good: run on a copy of the token, in a child process.
    import shutil

    token_dir = tmp_path / "tokens"
    shutil.copytree(softhsm.token_dir, token_dir)
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\n")
    env = {**softhsm.env(), "SOFTHSM2_CONF": str(conf), p11.PIN_ENV: USER_PIN}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _IO_FAILURE_SCRIPT,
            softhsm.module,
            softhsm.uri("sign-p256"),
            str(token_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    name, code, message = result.stdout.strip().split("|")
    assert name == TokenIOError.__name__
    assert int(code) == EXIT_DEVICE == 3
    assert "token 'mcuseal-test' failed to sign" in message
    assert "retry" in message


# -- the file-level loaders take URIs too (mcuseal seal, west seal, plugins) -----------------


def test_file_level_loaders_accept_uris(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcuseal.image.crypto import EncScheme
    from mcuseal.keys import load_device_key, load_key, load_key_wrapper, load_signer

    monkeypatch.setenv(p11.MODULE_ENV, softhsm.module)
    signer = load_signer(softhsm.uri("sign-p256"))
    try:
        assert isinstance(signer, p11.Pkcs11Signer)
        assert signer.key_kind.value == "ecdsa-p256"
    finally:
        signer.close()
    assert load_key(softhsm.uri("enc-p256")) == softhsm.device_keys["enc-p256"].public_key()
    assert load_key_wrapper(softhsm.uri("enc-rsa2048")).scheme is EncScheme.RSA_OAEP
    with pytest.raises(KeyError_) as exc:
        load_device_key(softhsm.uri("enc-p256"))
    _bad(exc, "is a public key; decrypting needs the device's private key")
