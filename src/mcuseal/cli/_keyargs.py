"""Key references on the command line: the PKCS#11 options and provider lookup.

Every command that takes a key (``sign -k/-E``, ``verify -k``, ``getpub``, ``key
fingerprint`` ...) resolves it here, so a ``pkcs11:`` URI (or a plugin's scheme) works
wherever a key file does.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from mcuseal.image.crypto import Signer
    from mcuseal.keys.providers import KeyOptions, KeyProviderRegistry


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--pkcs11-module`` and ``--allow-pin-in-uri`` to a command that takes keys."""
    group = parser.add_argument_group(
        "keys in a PKCS#11 token (pass -k pkcs11:token=...;object=...)"
    )
    group.add_argument(
        "--pkcs11-module",
        metavar="PATH",
        help="PKCS#11 module (.so) to load (default: the URI's module-path, "
        "else $MCUSEAL_PKCS11_MODULE); the PIN comes from the URI's pin-source file, "
        "$MCUSEAL_PKCS11_PIN, or a prompt",
    )
    group.add_argument(
        "--allow-pin-in-uri",
        action="store_true",
        help="accept a pin-value inside the URI (it leaks into shell history and logs)",
    )


def key_options(args: argparse.Namespace, *, prompt: bool = True) -> KeyOptions:
    from mcuseal.keys.providers import KeyOptions

    return KeyOptions(
        pkcs11_module=getattr(args, "pkcs11_module", None),
        allow_pin_in_uri=bool(getattr(args, "allow_pin_in_uri", False)),
        prompt=prompt,
    )


def registry() -> KeyProviderRegistry:
    """The key providers of this process (built-ins and plugins), built once."""
    from mcuseal.keys.providers import default_registry

    return default_registry()


def describe(ref: str) -> str:
    """*ref* for messages: URIs lose their secrets."""
    return registry().for_ref(ref).describe(ref)


def open_signer(ref: str, args: argparse.Namespace) -> Signer:
    return registry().for_ref(ref).open_signer(ref, key_options(args))


def load_public_key(ref: str, args: argparse.Namespace) -> PublicKeyTypes:
    return registry().for_ref(ref).load_public_key(ref, key_options(args))


def load_encryption_key(ref: str, args: argparse.Namespace) -> PublicKeyTypes | bytes:
    return registry().for_ref(ref).load_encryption_key(ref, key_options(args))


def close(signer: object) -> None:
    """Release what a signer holds (a token session), if anything."""
    closer = getattr(signer, "close", None)
    if callable(closer):
        closer()
