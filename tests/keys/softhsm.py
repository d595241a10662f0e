"""A SoftHSM2 token with keys generated inside it, for the PKCS#11 tests.

The fixtures are imported by ``tests/keys/conftest.py``; keep every test that needs them
under ``tests/keys`` (SoftHSM reads its configuration once per process, so there must be
exactly one session fixture).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

TOKEN = "mcuseal-test"
SPARE_TOKEN = "mcuseal-spare"
# Test-only PINs for a throw-away token under tmp_path.
USER_PIN = "246810"
SO_PIN = "13579111"

# label -> CKA_ID of the key pairs generated in the token.
SIGNING_KEYS = {
    "sign-p256": b"\x01",
    "sign-rsa2048": b"\x02",
    "sign-ed25519": b"\x03",
    "sign-p384": b"\x04",
    "sign-rsa3072": b"\x05",
}


@dataclasses.dataclass(frozen=True)
class SoftHsm:
    """A SoftHSM2 installation with a session-wide token directory (one per xdist worker)."""

    module: str
    conf: Path
    token_dir: Path
    has_ed25519: bool
    # Private halves of the device's encryption keys; only their public halves are on the
    # token (the build server encrypts to them, the device decrypts).
    device_keys: dict[str, Any]

    def uri(self, label: str | None = None, *, token: str = TOKEN, **extra: str) -> str:
        parts = [f"token={token}"]
        if label is not None:
            parts.append(f"object={label}")
        parts += [f"{k.replace('_', '-')}={v}" for k, v in extra.items()]
        return "pkcs11:" + ";".join(parts)

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that talks to this token."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}


def _find_module() -> str | None:
    return next((m for m in SOFTHSM_MODULES if Path(m).is_file()), None)


def _init_token(util: str, label: str) -> None:
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", USER_PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
    )


# Key pairs are generated INSIDE the token: sensitive, non-extractable private keys.
_PRIVATE = {"EXTRACTABLE": False, "SENSITIVE": True, "SIGN": True}


def _private_template(**overrides: bool) -> dict[Any, Any]:
    import pkcs11

    values = {**_PRIVATE, **overrides}
    return {getattr(pkcs11.Attribute, k): v for k, v in values.items()}


def _ec_pair(
    session: Any,
    params: bytes,
    label: str,
    key_id: bytes,
    *,
    edwards: bool = False,
    private: dict[Any, Any] | None = None,
    public: dict[Any, Any] | None = None,
) -> Any:
    import pkcs11

    key_type = pkcs11.KeyType.EC_EDWARDS if edwards else pkcs11.KeyType.EC
    domain = session.create_domain_parameters(
        key_type, {pkcs11.Attribute.EC_PARAMS: params}, local=True
    )
    kwargs: dict[str, Any] = {}
    if edwards:
        kwargs["mechanism"] = pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN
    return domain.generate_keypair(
        store=True,
        label=label,
        id=key_id,
        private_template=private if private is not None else _private_template(),
        public_template=public or {},
        **kwargs,
    )


def _populate(module: str, has_ed25519: bool) -> dict[str, Any]:
    import pkcs11
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from pkcs11.util.ec import decode_ec_public_key
    from pkcs11.util.rsa import decode_rsa_public_key

    p256 = bytes.fromhex("06082a8648ce3d030107")
    p384 = bytes.fromhex("06052b81040022")
    k256 = bytes.fromhex("06052b8104000a")
    ed25519 = bytes.fromhex("06032b6570")
    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=USER_PIN) as s:
        _ec_pair(s, p256, "sign-p256", SIGNING_KEYS["sign-p256"])
        _ec_pair(s, p384, "sign-p384", SIGNING_KEYS["sign-p384"])
        for bits in (2048, 3072):
            label = f"sign-rsa{bits}"
            s.generate_keypair(
                pkcs11.KeyType.RSA,
                bits,
                store=True,
                label=label,
                id=SIGNING_KEYS[label],
                private_template=_private_template(),
            )
        if has_ed25519:
            _ec_pair(s, ed25519, "sign-ed25519", SIGNING_KEYS["sign-ed25519"], edwards=True)
        # Keys MCUboot cannot use.
        _ec_pair(s, k256, "bad-k256", b"\x10")
        s.generate_keypair(
            pkcs11.KeyType.RSA,
            1024,
            store=True,
            label="bad-rsa1024",
            id=b"\x11",
            private_template=_private_template(),
        )
        # A private key whose public half was never stored on the token.
        _ec_pair(s, p256, "orphan-p256", b"\x12", public={pkcs11.Attribute.TOKEN: False})
        # A private key (id 13) whose id-matching public object belongs to another pair.
        _ec_pair(s, p256, "mismatch", b"\x13", public={pkcs11.Attribute.ID: b"\x14"})
        _ec_pair(s, p256, "mismatch-other", b"\x15", public={pkcs11.Attribute.ID: b"\x13"})
        # A private key that can be exported: mcuseal warns.
        _ec_pair(
            s,
            p256,
            "exportable-p256",
            b"\x20",
            private=_private_template(EXTRACTABLE=True, SENSITIVE=False),
        )
        # A key the token may not sign with (CKA_SIGN false).
        _ec_pair(s, p256, "nosign-p256", b"\x21", private=_private_template(SIGN=False))
        # Two keys under one label.
        _ec_pair(s, p256, "dup", b"\x30")
        _ec_pair(s, p256, "dup", b"\x31")
        # Device encryption keys: only the public half is on the token.
        device_ec = ec.generate_private_key(ec.SECP256R1())
        device_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        from cryptography.hazmat.primitives import serialization

        der = serialization.Encoding.DER
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        ec_attrs = decode_ec_public_key(device_ec.public_key().public_bytes(der, spki))
        rsa_attrs = decode_rsa_public_key(
            device_rsa.public_key().public_bytes(der, serialization.PublicFormat.PKCS1)
        )
        for attrs, label, key_id in (
            (ec_attrs, "enc-p256", b"\x40"),
            (rsa_attrs, "enc-rsa2048", b"\x41"),
        ):
            attrs.update(
                {
                    pkcs11.Attribute.TOKEN: True,
                    pkcs11.Attribute.LABEL: label,
                    pkcs11.Attribute.ID: key_id,
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
                }
            )
            s.create_object(attrs)
        # A certificate-like data object is not needed: type=cert is refused before lookup.
    spare = lib.get_token(token_label=SPARE_TOKEN)
    with spare.open(rw=True, user_pin=USER_PIN) as s:
        _ec_pair(s, p256, "sign-p256", SIGNING_KEYS["sign-p256"])
    return {"enc-p256": device_ec, "enc-rsa2048": device_rsa}


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A SoftHSM2 token directory for this test session, with keys generated inside it.

    SoftHSM reads its configuration once per process (at C_Initialize), so every test of a
    worker shares this one; tests never change the token, except the I/O-failure test,
    which works on a copy in a subprocess.
    """
    module = _find_module()
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        pytest.fail("SoftHSM2 is required for the PKCS#11 tests: apt-get install softhsm2")
    base = tmp_path_factory.mktemp("softhsm")
    token_dir = base / "tokens"
    token_dir.mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        _init_token(util, TOKEN)
        _init_token(util, SPARE_TOKEN)
        import pkcs11

        lib = pkcs11.lib(module)
        mechanisms = lib.get_token(token_label=TOKEN).slot.get_mechanisms()
        has_ed25519 = {
            pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            pkcs11.Mechanism.EDDSA,
        } <= mechanisms
        device_keys = _populate(module, has_ed25519)
        yield SoftHsm(module, conf, token_dir, has_ed25519, device_keys)


@pytest.fixture
def pin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The right user PIN in MCUSEAL_PKCS11_PIN, no module in the environment."""
    monkeypatch.setenv("MCUSEAL_PKCS11_PIN", USER_PIN)
    monkeypatch.delenv("MCUSEAL_PKCS11_MODULE", raising=False)
