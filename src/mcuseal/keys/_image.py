"""Key files turned into :mod:`mcuseal.image`'s key objects (signers, wrappers, device keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcuseal.errors import KeyError_
from mcuseal.keys._files import (
    KeyType,
    PathLike,
    classify,
    is_private,
    load_key_or_kek,
    load_private_key,
)
from mcuseal.keys.providers import current_options, uri_provider

if TYPE_CHECKING:
    from mcuseal.image.crypto import DeviceKey, KeyWrapper, Signer


def load_signer(path: PathLike, *, password_env: str | None = None, prompt: bool = False) -> Signer:
    """A :class:`~mcuseal.image.crypto.Signer` for the private key in *path*.

    :raises KeyError_: a public-only key, an X25519 key, or anything unloadable
    """
    provider = uri_provider(path)  # a pkcs11: (or plugin) URI instead of a file
    if provider is not None:
        return provider.open_signer(str(path), current_options(prompt=prompt))
    key = load_private_key(path, password_env=password_env, prompt=prompt)
    return signer_for(key, path=path)


def signer_for(key: object, *, path: PathLike) -> Signer:
    """A signer for an already loaded private key object (see :func:`load_signer`)."""
    from mcuseal.image.crypto import CryptographySigner

    kind = classify(key, path=path)
    if not kind.can_sign:
        raise KeyError_(
            f"{path} is an {kind.value} key, which cannot sign; pass an ecdsa-p256, "
            "ecdsa-p384, ed25519 or rsa key with -k (use X25519 keys with -E)"
        )
    return CryptographySigner(key)  # type: ignore[arg-type]


def load_key_wrapper(path: PathLike) -> KeyWrapper:
    """The ``-E`` key: a public or private PEM/DER key, or a KEK file (raw or base64).

    Only the public half of a private key is used.  A private key is not prompted for a
    password: it is loaded only if it is not protected or ``MCUSEAL_KEY_PASSWORD`` is set.

    :raises KeyError_: keys the bootloader cannot unwrap with (P-384, RSA-3072, Ed25519 ...)
    """
    provider = uri_provider(path)
    shown = provider.describe(str(path)) if provider is not None else path
    return wrapper_for(load_key_or_kek(path), path=shown)


def wrapper_for(key: object, *, path: PathLike) -> KeyWrapper:
    """A key wrapper for an already loaded key or KEK (see :func:`load_key_wrapper`)."""
    from mcuseal.image.crypto import key_wrapper_for

    kind = classify(key, path=path)
    if kind is KeyType.ED25519:
        raise KeyError_(
            f"{path} is an ed25519 key, which signs but cannot encrypt; use an x25519 -E key "
            "(make one with 'mcuseal keygen -t x25519')"
        )
    try:
        return key_wrapper_for(key)
    except KeyError_ as err:
        raise KeyError_(f"-E {path}: {err}") from None


def load_device_key(path: PathLike, *, prompt: bool = False) -> DeviceKey:
    """The device's decryption key: a private PEM/DER key, or a KEK file (raw or base64).

    :raises KeyError_: a public key (the device's private half is needed), unusable types
    """
    from mcuseal.image.crypto import DeviceKey

    key = load_key_or_kek(path, prompt=prompt)
    if not isinstance(key, bytes) and not is_private(key):
        raise KeyError_(f"{path} is a public key; decrypting needs the device's private key or KEK")
    try:
        return DeviceKey(key)  # type: ignore[arg-type]
    except KeyError_ as err:
        raise KeyError_(f"-E {path}: {err}") from None
