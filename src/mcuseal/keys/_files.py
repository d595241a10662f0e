"""Reading key files: PEM/DER private and public keys, KEK files, key classification.

Every failure becomes a one-line :class:`~mcuseal.errors.KeyError_` naming the file and the
fix; ``cryptography``'s own exceptions never reach the user.
"""

from __future__ import annotations

import base64
import binascii
import enum
import getpass
import logging
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from mcuseal.errors import KeyError_

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )

    from mcuseal.keys.providers import KeyOptions, KeyProvider

PASSWORD_ENV = "MCUSEAL_KEY_PASSWORD"
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
KEK_SIZES = (16, 32)
# Key files are small; anything bigger is not a key and is refused before parsing.
_MAX_KEY_FILE_SIZE = 64 * 1024

_log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


class KeyType(enum.Enum):
    """Every key kind mcuseal handles; the value is imgtool's ``keygen -t`` spelling."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ED25519 = "ed25519"
    X25519 = "x25519"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    AES_KW_128 = "aes-kw-128"
    AES_KW_256 = "aes-kw-256"

    @property
    def can_sign(self) -> bool:
        return self not in (KeyType.X25519, KeyType.AES_KW_128, KeyType.AES_KW_256)

    @property
    def is_kek(self) -> bool:
        return self in (KeyType.AES_KW_128, KeyType.AES_KW_256)


def _read(path: PathLike, what: str) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise KeyError_(f"{what} {p} is a directory; pass the key file itself")
        if size > _MAX_KEY_FILE_SIZE:
            raise KeyError_(
                f"{what} {p} is {size} bytes, too big for a key; pass a PEM/DER key or KEK file"
            )
        return p.read_bytes()
    except FileNotFoundError:
        raise KeyError_(f"{what} {p} does not exist; check the path") from None
    except PermissionError:
        raise KeyError_(f"{what} {p} is not readable; check its permissions") from None
    except OSError as err:
        raise KeyError_(f"cannot read {what} {p}: {err.strerror}") from None


# Files already warned about in this process: a key given twice (-k and -E, or read by two
# steps of one command) is reported once.
_warned_exposed: set[str] = set()


def warn_if_exposed(path: PathLike, key: object = None) -> bool:
    """Warn when a private-key file is readable by group or others; return True if so.

    :param key: the key loaded from *path*; a published development key is not warned
        about (it has no secrecy to lose, and the dev-key check already speaks of it)
    """
    if sys.platform == "win32":  # pragma: no cover - POSIX permission bits only
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return False
    if key is not None:
        from mcuseal.keys.devkeys import dev_key_name

        if dev_key_name(key) is not None:
            return False
    shown = os.path.realpath(path)
    if shown not in _warned_exposed:
        _warned_exposed.add(shown)
        _log.warning(
            "private key %s is readable by group/others (mode %o); run 'chmod 600 %s'",
            path,
            stat.S_IMODE(mode),
            path,
        )
    return True


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _password(path: PathLike, password_env: str | None, prompt: bool) -> bytes:
    env = password_env or PASSWORD_ENV
    value = os.environ.get(env)
    if value is not None:
        return value.encode("utf-8")
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"Passphrase for {path}: ").encode("utf-8")
    raise KeyError_(
        f"private key {path} is password-protected; set {env} or run in a terminal to be asked"
    )


def _parse_private(data: bytes, password: bytes | None) -> PrivateKeyTypes:
    from cryptography.hazmat.primitives import serialization

    if _is_pem(data):
        return serialization.load_pem_private_key(data, password=password)
    return serialization.load_der_private_key(data, password=password)


def _is_encrypted_key(data: bytes) -> bool:
    if _is_pem(data):
        return b"ENCRYPTED" in data
    # cryptography tells an encrypted DER key apart only by asking for its password.
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def load_private_key(
    path: PathLike, *, password_env: str | None = None, prompt: bool = False
) -> PrivateKeyTypes:
    """Load a private key from a PEM or DER file.

    A password-protected key takes its password from the environment variable
    *password_env* (default :data:`PASSWORD_ENV`), else from an interactive prompt when
    *prompt* is true and stdin is a terminal.  Passwords never come from arguments.

    :param path: the key file
    :raises KeyError_: missing/unreadable file, public-only key, wrong password, not a key
    """
    return _private_key_from(path, _read(path, "key"), password_env, prompt)


def _private_key_from(
    path: PathLike, data: bytes, password_env: str | None, prompt: bool
) -> PrivateKeyTypes:
    """:func:`load_private_key` for the already read contents *data* of *path*."""
    from cryptography.exceptions import UnsupportedAlgorithm

    password = _password(path, password_env, prompt) if _is_encrypted_key(data) else None
    try:
        key = _parse_private(data, password)
    except ValueError:
        if password is not None:
            env = password_env or PASSWORD_ENV
            where = f"check ${env}" if env in os.environ else "try again"
            raise KeyError_(f"wrong password for private key {path}; {where}") from None
        if _parse_public_or_none(data) is not None:
            raise KeyError_(f"{path} holds a public key only; this needs the private key") from None
        raise KeyError_(f"{path} is not a PEM or DER private key; {_hint(data)}") from None
    except TypeError:
        raise KeyError_(f"private key {path} could not be decrypted; check the password") from None
    except UnsupportedAlgorithm as err:  # e.g. an EC curve OpenSSL does not know
        raise KeyError_(f"{path}: unsupported private key ({err})") from None
    warn_if_exposed(path, key)
    classify(key, path=path)
    return key


def _parse_public_or_none(data: bytes) -> PublicKeyTypes | None:
    from cryptography.hazmat.primitives import serialization

    try:
        if _is_pem(data):
            return serialization.load_pem_public_key(data)
        return serialization.load_der_public_key(data)
    except Exception:
        return None


def _hint(data: bytes) -> str:
    if data.strip() and all(32 <= b < 127 or b in b"\r\n\t" for b in data) and not _is_pem(data):
        return "it looks like text; pass a PEM key (make one with 'mcuseal keygen')"
    return "make one with 'mcuseal keygen'"


def load_key(
    path: PathLike, *, password_env: str | None = None, prompt: bool = False
) -> PrivateKeyTypes | PublicKeyTypes:
    """Load a private key if the file holds one, else a public key.

    :raises KeyError_: the file holds neither
    """
    provider = _uri_provider(path)  # a pkcs11: (or plugin) URI: its public key
    if provider is not None:
        return provider.load_public_key(os.fspath(path), _uri_options(prompt))
    return _key_from(path, _read(path, "key"), password_env, prompt)


def _key_from(
    path: PathLike, data: bytes, password_env: str | None, prompt: bool
) -> PrivateKeyTypes | PublicKeyTypes:
    """:func:`load_key` for the already read contents *data* of *path*."""
    public = _parse_public_or_none(data)
    if public is not None:
        classify(public, path=path)
        return public
    if not _is_pem(data) and not _is_der_private(data):
        raise KeyError_(f"{path} is not a PEM or DER key; {_hint(data)}")
    return _private_key_from(path, data, password_env, prompt)


def load_public_key(
    path: PathLike, *, password_env: str | None = None, prompt: bool = False
) -> PublicKeyTypes:
    """Load the public key of a public or private PEM/DER key file."""
    return public_of(load_key(path, password_env=password_env, prompt=prompt))


def public_of(key: Any) -> PublicKeyTypes:
    """The public half of *key* (itself when it is public already)."""
    return key.public_key() if is_private(key) else key  # type: ignore[no-any-return]


def parse_kek(data: bytes, *, path: PathLike = "KEK") -> bytes:
    """Return the AES key-encryption key from raw (16/32 bytes) or base64 text.

    :raises KeyError_: any other length or encoding
    """
    text = data.strip()
    # Base64 first: random raw bytes are base64 text with probability 4**-16 or less,
    # while a 32-character base64 line would otherwise pass as a raw AES-256 KEK.
    kek: bytes | None = None
    if text and all(b in _BASE64_ALPHABET for b in text):
        try:
            kek = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            kek = None
    if kek is None:
        if len(data) in KEK_SIZES:
            return bytes(data)
        raise KeyError_(
            f"{path} is neither a PEM key nor a KEK (raw 16/32 bytes or base64 of them); "
            "make a KEK with 'mcuseal keygen -t aes-kw-128 -k FILE'"
        )
    if len(kek) not in KEK_SIZES:
        raise KeyError_(
            f"KEK {path} holds {len(kek)} bytes; AES-KW needs 16 (AES-128) or 32 (AES-256)"
        )
    return kek


def load_key_or_kek(
    path: PathLike, *, password_env: str | None = None, prompt: bool = False
) -> PrivateKeyTypes | PublicKeyTypes | bytes:
    """Load an asymmetric key (PEM/DER) or, failing that, a KEK file (raw or base64)."""
    provider = _uri_provider(path)
    if provider is not None:
        return provider.load_encryption_key(os.fspath(path), _uri_options(prompt))
    data = _read(path, "key")
    if _is_pem(data) or _parse_public_or_none(data) is not None or _is_der_private(data):
        return _key_from(path, data, password_env, prompt)
    kek = parse_kek(data, path=path)
    warn_if_exposed(path, kek)
    return kek


def _is_der_private(data: bytes) -> bool:
    if len(data) in KEK_SIZES or not data.startswith(b"\x30"):
        return False
    return _is_encrypted_key(data) or _parse_private_or_none(data)


def _parse_private_or_none(data: bytes) -> bool:
    try:
        _parse_private(data, None)
    except Exception:
        return False
    return True


def classify(key: object, *, path: PathLike | None = None) -> KeyType:
    """Return the :class:`KeyType` of a ``cryptography`` key object or KEK bytes.

    :raises KeyError_: a key MCUboot has no use for (other curves, RSA sizes, Ed448 ...)
    """
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

    where = f"{path}: " if path is not None else ""
    if isinstance(key, (bytes, bytearray)):
        if len(key) == 16:
            return KeyType.AES_KW_128
        if len(key) == 32:
            return KeyType.AES_KW_256
        raise KeyError_(f"{where}a KEK must be 16 or 32 bytes, not {len(key)}")
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name == "secp256r1":
            return KeyType.ECDSA_P256
        if key.curve.name == "secp384r1":
            return KeyType.ECDSA_P384
        raise KeyError_(
            f"{where}EC curve {key.curve.name} is not supported by MCUboot; use P-256 or P-384"
        )
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size == 2048:
            return KeyType.RSA_2048
        if key.key_size == 3072:
            return KeyType.RSA_3072
        raise KeyError_(
            f"{where}RSA-{key.key_size} is not supported by MCUboot; use RSA-2048 or RSA-3072"
        )
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return KeyType.ED25519
    if isinstance(key, (x25519.X25519PrivateKey, x25519.X25519PublicKey)):
        return KeyType.X25519
    raise KeyError_(
        f"{where}{type(key).__name__.lstrip('_')} keys are not supported by MCUboot; "
        "use ecdsa-p256, ecdsa-p384, ed25519, x25519, rsa-2048 or rsa-3072"
    )


def is_private(key: object) -> bool:
    """True for a ``cryptography`` private key object."""
    return hasattr(key, "private_bytes")


def _uri_provider(path: PathLike) -> KeyProvider | None:
    from mcuseal.keys.providers import uri_provider

    return uri_provider(path)


def _uri_options(prompt: bool) -> KeyOptions:
    from mcuseal.keys.providers import current_options

    return current_options(prompt=prompt)
