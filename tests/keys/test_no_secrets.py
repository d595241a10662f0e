"""No key material in any output the user did not ask for.

Every command that touches a key runs with ``-vv`` and, where it reports, ``--json``; its
stdout, stderr (where the log goes) and every file it writes are searched for the secrets
of the keys involved: the PEM body of the private key file, the raw private scalar (bytes,
hex, base64), RSA's private exponent and primes, KEK bytes, key passwords and token PINs.
Exempt, because the user asked for them: ``getpriv``'s stdout and the key file ``keygen``
writes.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from mcuseal.cli import main
from tests.keys.softhsm import USER_PIN, SoftHsm

SIGNING_TYPES = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072"]
ENCRYPTION_TYPES = ["ecdsa-p256", "x25519", "rsa-2048", "aes-kw-128", "aes-kw-256"]
PASSWORD = "Correct-Horse-7c1e"
SLOT = ["-H", "0x200", "--pad-header", "-S", "0x20000", "-v", "1.2.3"]


def _int_forms(value: int, size: int) -> list[bytes]:
    raw = value.to_bytes(size, "big")
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]


def _pem_body(data: bytes) -> list[bytes]:
    lines = [ln for ln in data.splitlines() if ln and not ln.startswith(b"-----")]
    return [b"".join(lines), *[ln for ln in lines if len(ln) >= 16]]


def secrets_of(path: Path, password: str | None = None) -> list[bytes]:
    """Byte strings that must never appear in output, for the key file *path*."""
    data = path.read_bytes()
    if b"-----BEGIN" not in data:  # a KEK: raw bytes or base64 text
        kek = base64.b64decode(data) if len(data) not in (16, 32) else data
        return [kek, kek.hex().encode(), kek.hex().upper().encode(), base64.b64encode(kek)]
    found = _pem_body(data)
    key = serialization.load_pem_private_key(data, password=password.encode() if password else None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        found += _int_forms(key.private_numbers().private_value, (key.curve.key_size + 7) // 8)
    elif isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        for value in (numbers.d, numbers.p, numbers.q):
            found += _int_forms(value, (value.bit_length() + 7) // 8)
    else:
        assert isinstance(key, (ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey))
        found += _int_forms(int.from_bytes(key.private_bytes_raw(), "big"), 32)
    return found


@dataclass
class Outputs:
    """Everything the commands of one test produced, minus the exempt parts."""

    texts: list[tuple[str, bytes]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def check(self, secrets: list[bytes]) -> None:
        assert secrets
        for name, text in self.texts + [(str(f), f.read_bytes()) for f in self.files]:
            # Also as C/Rust arrays would spell it: "0x3a, 0x1f, ..." across lines.
            compact = re.sub(rb"0x|[\s,]", b"", text).lower()
            for secret in secrets:
                assert secret not in text, f"secret material in {name}"
                assert secret.lower() not in compact, f"secret material in {name}"


@pytest.fixture
def run(
    capfdbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Outputs, object]]:
    outputs = Outputs()
    monkeypatch.setenv("MCUSEAL_KEY_PASSWORD", PASSWORD)

    def call(*args: object, exempt_stdout: bool = False, code: int = 0) -> None:
        argv = ["-vv", *map(str, args)]
        assert main(argv) == code, capfdbinary.readouterr()
        out, err = capfdbinary.readouterr()
        outputs.texts.append((f"stderr of {args[0]}", err))
        if not exempt_stdout:
            outputs.texts.append((f"stdout of {args[0]}", out))

    yield outputs, call


def _keygen(call: object, tmp_path: Path, key_type: str, *extra: str, role: str = "k") -> Path:
    path = tmp_path / f"{role}-{key_type}{''.join(extra)}.key"
    call("keygen", "-t", key_type, "-k", path, "--json", *extra)  # type: ignore[operator]
    assert path.stat().st_mode & 0o077 == 0  # written 0600
    return path


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.bin"
    path.write_bytes(os.urandom(2048))
    return path


@pytest.mark.parametrize("key_type", SIGNING_TYPES)
@pytest.mark.parametrize("password", [None, PASSWORD], ids=["plain", "password"])
def test_signing_key_commands(
    run: tuple[Outputs, object], tmp_path: Path, app: Path, key_type: str, password: str | None
) -> None:
    outputs, call = run
    key = _keygen(call, tmp_path, key_type, *(["-p"] if password else []))
    for encoding in ("pem", "raw", "lang-c", "lang-rust"):
        call("getpub", "-k", key, "-e", encoding)  # type: ignore[operator]
    call("getpubhash", "-k", key)  # type: ignore[operator]
    call("key", "fingerprint", key, "--json")  # type: ignore[operator]
    image, sig, vector = tmp_path / "s.bin", tmp_path / "s.sig", tmp_path / "digest.bin"
    call("sign", "-k", key, *SLOT, "--sig-out", sig, "--json", app, image)  # type: ignore[operator]
    call("sign", "-k", key, *SLOT, "--vector-to-sign", "digest", app, vector)  # type: ignore[operator]
    call("verify", image, "-k", key, "--json")  # type: ignore[operator]
    call("info", image)  # type: ignore[operator]
    outputs.files += [image, sig, vector]
    outputs.check([*secrets_of(key, password), PASSWORD.encode()])


@pytest.mark.parametrize("key_type", ENCRYPTION_TYPES)
def test_encryption_key_commands(
    run: tuple[Outputs, object], tmp_path: Path, app: Path, key_type: str
) -> None:
    outputs, call = run
    signing = {"rsa-2048": "rsa-2048", "x25519": "ed25519"}.get(key_type, "ecdsa-p256")
    signer = _keygen(call, tmp_path, signing, role="signer")
    device = _keygen(call, tmp_path, key_type, role="device")
    keylen = ["--encrypt-keylen", "256"] if key_type == "aes-kw-256" else []
    image, plain, whole = tmp_path / "e.bin", tmp_path / "plain.bin", tmp_path / "clear.bin"
    call("sign", "-k", signer, "-E", device, *keylen, *SLOT, "--json", app, image)  # type: ignore[operator]
    call("verify", image, "-k", signer, "-E", device, "--json")  # type: ignore[operator]
    call("decrypt", image, "-E", device, "-o", plain)  # type: ignore[operator]
    call("decrypt", image, "-E", device, "--image", "-o", whole)  # type: ignore[operator]
    call("key", "fingerprint", device, "--json")  # type: ignore[operator]
    if not key_type.startswith("aes"):
        call("getpub", "-k", device, "-e", "pem")  # type: ignore[operator]
        # getpriv's stdout is the secret the user asked for; its stderr is still checked.
        call("getpriv", "-k", device, exempt_stdout=True)  # type: ignore[operator]
    outputs.files += [image, plain, whole]
    outputs.check(secrets_of(device) + secrets_of(signer))


def test_failures_do_not_echo_secrets(
    run: tuple[Outputs, object], tmp_path: Path, app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs, call = run
    key = _keygen(call, tmp_path, "ecdsa-p256", "-p")
    monkeypatch.setenv("MCUSEAL_KEY_PASSWORD", "wrong-" + PASSWORD)
    call("sign", "-k", key, *SLOT, app, tmp_path / "x.bin", code=2)  # type: ignore[operator]
    call("getpub", "-k", key, code=2)  # type: ignore[operator]
    # A key file given where an image is expected.
    monkeypatch.setenv("MCUSEAL_KEY_PASSWORD", PASSWORD)
    call("info", key, code=2)  # type: ignore[operator]
    call("verify", key, code=1)  # type: ignore[operator]
    outputs.check([*secrets_of(key, PASSWORD), PASSWORD.encode()])


def test_pkcs11_commands_do_not_print_the_pin(
    run: tuple[Outputs, object],
    softhsm: SoftHsm,
    tmp_path: Path,
    app: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outputs, call = run
    monkeypatch.setenv("MCUSEAL_PKCS11_MODULE", softhsm.module)
    monkeypatch.setenv("MCUSEAL_PKCS11_PIN", USER_PIN)
    uri = softhsm.uri("sign-p256")
    image = tmp_path / "t.bin"
    call("sign", "-k", uri, "-E", softhsm.uri("enc-p256"), *SLOT, "--json", app, image)  # type: ignore[operator]
    call("verify", image, "-k", uri, "--json")  # type: ignore[operator]
    call("getpub", "-k", uri)  # type: ignore[operator]
    call("getpubhash", "-k", uri)  # type: ignore[operator]
    call("key", "fingerprint", uri, "--json")  # type: ignore[operator]
    # A PIN inside the URI (allowed explicitly) and a wrong PIN: neither is echoed.
    monkeypatch.delenv("MCUSEAL_PKCS11_PIN")
    with_pin = f"{uri}?pin-value={USER_PIN}"
    call("sign", "-k", with_pin, "--allow-pin-in-uri", *SLOT, "--json", app, image)  # type: ignore[operator]
    call("sign", "-k", with_pin, *SLOT, app, tmp_path / "n.bin", code=2)  # type: ignore[operator]
    monkeypatch.setenv("MCUSEAL_PKCS11_PIN", "wrong-pin-81")
    call("sign", "-k", uri, *SLOT, app, tmp_path / "n.bin", code=2)  # type: ignore[operator]
    outputs.files.append(image)
    outputs.check([USER_PIN.encode(), b"wrong-pin-81"])


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048", "x25519", "aes-kw-128"])
def test_the_search_finds_secrets_where_they_are(
    run: tuple[Outputs, object], tmp_path: Path, key_type: str
) -> None:
    # The same search over output that does hold the key (getpriv's C array, the key file
    # itself) must fail, or the tests above prove nothing.
    outputs, call = run
    key = _keygen(call, tmp_path, key_type)
    if key_type.startswith("aes"):
        outputs.files.append(key)
    else:
        call("getpriv", "-k", key, "--minimal")  # type: ignore[operator]
    with pytest.raises(AssertionError, match="secret material"):
        outputs.check(secrets_of(key))
    outputs.texts, outputs.files = [("key file", key.read_bytes())], []
    with pytest.raises(AssertionError, match="secret material"):
        outputs.check(secrets_of(key))
